/**
 * Starting the training pipeline from a dataset drop: one object version, at most one execution.
 *
 * S3 delivers its events at least once, and EventBridge and Lambda's asynchronous invocations
 * may each deliver again, so the same object version can arrive more than once. The execution is
 * therefore named after the object version (executionName), and Step Functions keeps execution
 * names unique per state machine. A second StartExecution for the same version answers either
 * ExecutionAlreadyExists (the execution has ended, or the event differs: S3 sent it twice) or,
 * while the execution runs and the event is byte for byte the same (a redelivery), the running
 * execution again: Standard workflows make StartExecution idempotent on name and input. Both are
 * duplicate deliveries, reported as such; neither starts a second run.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ExecutionAlreadyExists, StartExecutionCommand, type StartExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { InvalidInput } from '../shared/errors';
import { DATASETS_PREFIX, MODEL_NAME_PATTERN } from '../shared/layout';

/**
 * The EventBridge "Object Created" event of S3 as a starter checks it (the fields the execution's
 * name and the state machine read), with `key` the rule the starter's keys follow.
 */
export function objectCreatedEventSchema(key: z.ZodString) {
  return z.looseObject({
    id: z.string().min(1),
    time: z.string().min(1),
    source: z.literal('aws.s3'),
    'detail-type': z.literal('Object Created'),
    detail: z.looseObject({
      bucket: z.looseObject({ name: z.string().min(1) }),
      object: z.looseObject({
        key,
        etag: z.string().optional(),
        'version-id': z.string().optional(),
        sequencer: z.string().optional(),
      }),
    }),
  });
}

/** Step Functions' limit on execution names. */
export const MAX_EXECUTION_NAME_LENGTH = 80;
/** Hex digits of SHA-256 in a name: 128 bits, so two object versions never share a name by chance. */
const HASH_DIGITS = 32;
/** The name's prefix when the key names no model (Ingest then rejects the key, as it always did). */
const UNROUTED_PREFIX = 'dataset';
/** Random hex digits in the name of a TrainRequest's execution (96 bits). */
const TRAIN_NAME_DIGITS = 24;

/** The part of S3's "Object Created" event detail that tells object versions apart. */
export interface ObjectCreatedDetail {
  readonly bucket: { readonly name: string };
  readonly object: {
    readonly key: string;
    readonly etag?: string;
    readonly 'version-id'?: string;
    readonly sequencer?: string;
  };
  readonly [field: string]: unknown;
}

/** The EventBridge event S3 sends for a created object; the state machine's input, unchanged. */
export interface ObjectCreatedEvent {
  readonly id: string;
  readonly time: string;
  readonly detail: ObjectCreatedDetail;
  readonly [field: string]: unknown;
}

/**
 * What identifies one object version. A versioned bucket gives each version an id. An
 * unversioned one (or one whose versioning is suspended: every put then has the version id
 * 'null') has none, and the object's sequencer, which S3 increases with every write to a key,
 * tells its writes apart; the etag rides along. JSON keeps the parts unambiguous (keys may
 * contain any character, newlines included).
 */
export function objectVersionIdentity(detail: ObjectCreatedDetail): string {
  const { bucket, object } = detail;
  const versionId = object['version-id'];
  if (versionId && versionId !== 'null') return JSON.stringify([bucket.name, object.key, 'version-id', versionId]);
  if (object.sequencer) return JSON.stringify([bucket.name, object.key, 'etag', object.etag ?? '', 'sequencer', object.sequencer]);
  throw new InvalidInput(
    `The Object Created event for s3://${bucket.name}/${object.key} has neither a version-id nor a sequencer, so a repeated delivery of it could not be told from a new write; S3 always sends the sequencer.`,
  );
}

/**
 * The execution name of an object version: `<model>-<32 hex digits of SHA-256 of the version's
 * identity>`, at most 73 characters of [a-z0-9-] (model names are at most 40 characters). The
 * model comes first so that a person reading the console knows what ran; the hash makes it one
 * name per object version, the same however often the event is delivered.
 */
export function executionName(detail: ObjectCreatedDetail, keyPrefix: string = DATASETS_PREFIX): string {
  const hash = createHash('sha256').update(objectVersionIdentity(detail)).digest('hex').slice(0, HASH_DIGITS);
  return `${modelOf(detail.object.key, keyPrefix) ?? UNROUTED_PREFIX}-${hash}`;
}

/**
 * The name of an execution that trains an existing dataset version again (a TrainRequest, `mloop
 * train`): `<model>-train-<24 random hex digits>`, at most 71 characters. Each request is a new
 * run, so the name is new each time (Step Functions keeps a closed execution's name 90 days). Its
 * last part is 24 digits where a drop's is 32, so a name alone tells the two apart.
 */
export function trainExecutionName(model: string): string {
  return `${model}-train-${randomBytes(TRAIN_NAME_DIGITS / 2).toString('hex')}`;
}

const MODEL = MODEL_NAME_PATTERN.source.replace(/^\^|\$$/g, '');
/** The two name shapes above: a drop's `<model>-<32 hex>`, a TrainRequest's `<model>-train-<24 hex>`. */
const EXECUTION_NAME = new RegExp(`^(${MODEL})-(?:[0-9a-f]{${HASH_DIGITS}}|train-[0-9a-f]{${TRAIN_NAME_DIGITS}})$`);

/** The model an execution name of this pipeline names (null for an unrouted drop, or another name). */
export function modelOfExecutionName(name: string): string | null {
  const match = EXECUTION_NAME.exec(name);
  return match && match[1] !== UNROUTED_PREFIX ? match[1] : null;
}

/** The model of `datasets/<model>/<file>` (or `<keyPrefix><model>/<file>`), when the key names a valid one. */
function modelOf(key: string, keyPrefix: string): string | undefined {
  if (!key.startsWith(keyPrefix)) return undefined;
  const segment = key.slice(keyPrefix.length).split('/')[0];
  return MODEL_NAME_PATTERN.test(segment) ? segment : undefined;
}

/** An execution's ARN: the state machine's, with `execution` for `stateMachine` and the name after it. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  const match = /^(arn:[^:]+:states:[^:]*:[^:]*):stateMachine:([^:]+)$/.exec(stateMachineArn);
  if (!match)
    throw new InvalidInput(
      `'${stateMachineArn}' is not a state machine ARN: expected arn:<partition>:states:<region>:<account>:stateMachine:<name>.`,
    );
  return `${match[1]}:execution:${match[2]}:${name}`;
}

export type StartResult =
  | { readonly status: 'STARTED'; readonly executionName: string; readonly executionArn: string; readonly startDate: string }
  | {
      readonly status: 'DUPLICATE_EVENT';
      readonly executionName: string;
      readonly executionArn: string;
      /**
       * How Step Functions answered: ExecutionAlreadyExists, or the running execution returned
       * again (same name and input, Standard workflows' idempotent StartExecution).
       */
      readonly answer: 'ExecutionAlreadyExists' | 'SameExecutionReturned';
      readonly message: string;
    };

/** The one call the starter makes; an SFNClient satisfies it. */
export interface StartExecutionApi {
  send(command: StartExecutionCommand): Promise<StartExecutionCommandOutput>;
}

export interface StartOptions {
  readonly stateMachineArn: string;
  readonly client: StartExecutionApi;
  /** The clock (ms since the epoch). @default Date.now */
  readonly now?: () => number;
  /** The prefix of the keys whose second segment names the model (batch scoring starts from `batch/`). @default DATASETS_PREFIX */
  readonly keyPrefix?: string;
}

/**
 * Start the pipeline for one "Object Created" event, with the event itself as the execution's
 * input (the state machine reads `detail`, `id` and `time`), under the object version's name.
 * A duplicate delivery is answered, not thrown; any other error is thrown, so that the event is
 * retried and then dead-lettered.
 */
export async function startPipeline(event: ObjectCreatedEvent, options: StartOptions): Promise<StartResult> {
  const name = executionName(event.detail, options.keyPrefix);
  const executionArn = executionArnOf(options.stateMachineArn, name);
  const sentAt = (options.now ?? Date.now)();
  let started: StartExecutionCommandOutput;
  try {
    started = await options.client.send(
      new StartExecutionCommand({ stateMachineArn: options.stateMachineArn, name, input: JSON.stringify(event) }),
    );
  } catch (error) {
    if (!(error instanceof ExecutionAlreadyExists)) throw error;
    return {
      status: 'DUPLICATE_EVENT',
      executionName: name,
      executionArn,
      answer: 'ExecutionAlreadyExists',
      message: `Object version ${describeVersion(event.detail)} already started execution ${name}: this delivery starts nothing.`,
    };
  }
  // Standard workflows answer a StartExecution with the same name and input as a running
  // execution with that execution's original response, so a start date before this request
  // means the execution was already there. (A repeat within the same millisecond as the start
  // cannot be told apart and reads as STARTED: either way there is one execution.)
  const startDate = started.startDate ?? new Date(sentAt);
  if (startDate.getTime() < sentAt) {
    return {
      status: 'DUPLICATE_EVENT',
      executionName: name,
      executionArn: started.executionArn ?? executionArn,
      answer: 'SameExecutionReturned',
      message: `Object version ${describeVersion(event.detail)} is already running as execution ${name} (started ${startDate.toISOString()}): this delivery starts nothing.`,
    };
  }
  return { status: 'STARTED', executionName: name, executionArn: started.executionArn ?? executionArn, startDate: startDate.toISOString() };
}

/** `s3://bucket/key (version v)` or `(etag e, sequencer s)`, for messages. */
function describeVersion(detail: ObjectCreatedDetail): string {
  const { bucket, object } = detail;
  const versionId = object['version-id'];
  const which = versionId && versionId !== 'null' ? `version ${versionId}` : `etag ${object.etag ?? '-'}, sequencer ${object.sequencer}`;
  return `s3://${bucket.name}/${object.key} (${which})`;
}
