/**
 * What a training job's hyperparameters may be, checked before SageMaker or Step Functions would
 * refuse them mid-run. A job's hyperparameters are three sets merged by the state machine
 * (lib/training.ts, 'Resolve hyperparameters' then States.JsonMerge in 'Train model'):
 *
 *   PIPELINE_HYPERPARAMETERS (5, set for every job) + the stack's `hyperparameters` prop
 *   + datasets/<model>/hyperparameters.json (wins over the prop on the names both have)
 *
 * SageMaker's CreateTrainingJob takes at most 100 of them, names up to 256 characters, values up
 * to 2,500. Step Functions carries them in the execution state (256 KiB for the whole state), so
 * each of the two sets a person writes is also bounded in bytes: 100 values of 2,500 characters
 * alone would be 250 KB. Pure: used by ingest (the file) and at synth (the prop).
 */

/** SageMaker's limits (CreateTrainingJob HyperParameters). */
export const MAX_HYPERPARAMETERS = 100;
export const MAX_HYPERPARAMETER_NAME = 256;
export const MAX_HYPERPARAMETER_VALUE = 2500;

/**
 * The most bytes (JSON of the names and string values) the hyperparameters.json file, and apart
 * from it the stack's prop, may take: both travel in the execution state ($.ingest and
 * $.hyperparameterDefaults), and the card's copy in $.evaluation.
 */
export const MAX_HYPERPARAMETERS_BYTES = 32 * 1024;

/**
 * The hyperparameters the pipeline sets for every job ('Resolve hyperparameters' in
 * lib/training.ts; a test checks that state's keys against this list): script mode's three, and the
 * target and task that ingest fixed.
 */
export const PIPELINE_HYPERPARAMETERS = ['sagemaker_program', 'sagemaker_submit_directory', 'sagemaker_region', 'target', 'task'] as const;

/** A hyperparameter set that SageMaker or the state machine would refuse. */
export interface HyperparameterViolation {
  readonly message: string;
}

/** The characters a hyperparameter name may hold: SageMaker takes any, but names travel as
 * command-line flags (script mode), JSON keys and shell-visible text, where others surprise. */
export const HYPERPARAMETER_NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
const NAME_RULE = "letters (A-Z, a-z), digits (0-9), '_', '.' and '-'";

/**
 * Object.prototype's members (`constructor`, `toString`, `__proto__`...): a key with one of these
 * names is read as an inherited member by any `obj[name]`/`in` lookup, and `__proto__` replaces
 * the prototype in a plain object's merge (the local state-machine interpreter is JavaScript).
 * The names are refused rather than trusted to every consumer.
 */
const OBJECT_MEMBERS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** A name shown so that invisible characters (NUL, controls) are visible: JSON's escapes. */
const shown = (name: string): string => JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}...` : name);

/**
 * Why `name` cannot be a hyperparameter name (in `source`); undefined when it can. Length first
 * (SageMaker's limit), then the character rule, then the names JavaScript objects carry.
 */
export function hyperparameterNameViolation(name: string, source: string): HyperparameterViolation | undefined {
  if (name.trim() === '' || name.length > MAX_HYPERPARAMETER_NAME) {
    return {
      message: `${source}: hyperparameter name '${name.slice(0, 40)}${name.length > 40 ? '...' : ''}' must be 1 to ${MAX_HYPERPARAMETER_NAME} characters long and not blank (SageMaker's limit), got ${name.length}.`,
    };
  }
  if (!HYPERPARAMETER_NAME_PATTERN.test(name)) {
    const bad = [...name].find((c) => !HYPERPARAMETER_NAME_PATTERN.test(c)) as string;
    return {
      message: `${source}: hyperparameter name ${shown(name)} may hold only ${NAME_RULE}; it holds ${JSON.stringify(bad)} (U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}).`,
    };
  }
  if (OBJECT_MEMBERS.has(name)) {
    return {
      message: `${source}: hyperparameter name '${name}' is reserved: it is a member every JavaScript object has (Object.prototype.${name}), which a lookup could mistake for this key; rename it.`,
    };
  }
  return undefined;
}

const bytesOf = (values: Record<string, string>): number => Buffer.byteLength(JSON.stringify(values), 'utf8');

/**
 * Why `values` (named `source` in messages) cannot be given to a job beside the pipeline's five
 * and `otherNames` (the other set's names, `othersLabel` in messages: the stack's prop for the file, the
 * trainers setting for the prop);
 * undefined when they can. Names of both sets count once.
 */
export function hyperparameterViolation(
  values: Record<string, string>,
  source: string,
  otherNames: readonly string[] = [],
  othersLabel = 'the other set',
): HyperparameterViolation | undefined {
  for (const [name, value] of Object.entries(values)) {
    const nameViolation = hyperparameterNameViolation(name, source);
    if (nameViolation) return nameViolation;
    if (value.length > MAX_HYPERPARAMETER_VALUE) {
      return {
        message: `${source}: hyperparameter '${name}' must be at most ${MAX_HYPERPARAMETER_VALUE} characters long (SageMaker's limit), got ${value.length}.`,
      };
    }
  }
  const names = new Set([...PIPELINE_HYPERPARAMETERS, ...otherNames, ...Object.keys(values)]);
  if (names.size > MAX_HYPERPARAMETERS) {
    const own = Object.keys(values).length;
    const others = names.size - new Set([...PIPELINE_HYPERPARAMETERS, ...Object.keys(values)]).size;
    return {
      message:
        `${source} has ${own} hyperparameters; with the ${PIPELINE_HYPERPARAMETERS.length} the pipeline sets (${PIPELINE_HYPERPARAMETERS.join(', ')})` +
        `${others > 0 ? ` and ${others} more from ${othersLabel}` : ''} a training job would get ${names.size}; ` +
        `SageMaker takes at most ${MAX_HYPERPARAMETERS}: remove ${names.size - MAX_HYPERPARAMETERS}.`,
    };
  }
  const bytes = bytesOf(values);
  if (bytes > MAX_HYPERPARAMETERS_BYTES) {
    const largest = Object.entries(values).sort(([, a], [, b]) => b.length - a.length)[0];
    return {
      message: `${source}: the hyperparameters take ${bytes} bytes of JSON, over the ${MAX_HYPERPARAMETERS_BYTES} the pipeline carries in its execution state (Step Functions: 256 KiB for the whole state); the largest is '${largest[0]}' (${largest[1].length} characters).`,
    };
  }
  return undefined;
}
