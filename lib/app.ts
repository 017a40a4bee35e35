/**
 * The CDK app's assembly: `buildApp` builds mloop's stack from the context keys (and applies
 * cdk-nag's AwsSolutions pack unless told not to); `inProcessApp` and `cdkJsonContext` let the
 * tests and the local runtime synthesize in-process the template `cdk synth` writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Size, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DATASET_SCHEMAS_CONTEXT_KEY, datasetSchemasFromContext } from './dataset-schemas';
import { REPO_ROOT } from './function-catalog';
import type { TrainerChoice } from '../lambdas/shared/trainers';
import { MloopStack } from './mloop-stack';

/** How buildApp builds. */
export interface BuildAppOptions {
  /**
   * Apply cdk-nag's AwsSolutions pack, so that synthesis fails on a finding no acknowledgement
   * covers. The local runtime turns it off: it reads a template that `cdk synth` and the tests
   * check, and the checks do not change the template.
   * @default true
   */
  readonly nag?: boolean;
}

/**
 * Build mloop's stack into an app, with cdk-nag's AwsSolutions pack applied (unless
 * `options.nag` is false). Shared by the CDK app (bin/app.ts), the tests and the local runtime,
 * so all three see the same template.
 *
 * Context keys: `mloop:stackName` (default "Mloop"), `mloop:trainingInstanceType`
 * (default ml.g5.xlarge), `mloop:trainingCodeDir` (a training source directory of your own,
 * default the repository's training/), `mloop:trainingEntryPoint` (default train.py),
 * `mloop:trainers` (mlp, xgboost or auto: which built-in trainer the jobs run; default auto),
 * `mloop:requireApproval` (true: promotions wait for `mloop models approve`; default false),
 * `mloop:ingestPartsAbove` and `mloop:ingestPartBytes` (bytes: a dataset file larger than the first
 * is ingested in parts of the second; defaults 2 GiB and 256 MiB, see IngestionPartsOptions),
 * `mloop:datasetSchemas` (the `datasetSchemas` prop: an object of model names to schema.json
 * documents, the path of a JSON file holding one, relative to the directory of cdk.json, or its
 * JSON text), `mloop:apiCloudWatchRole` (true: the stack sets API Gateway's account-wide
 * CloudWatch Logs role; default false, see InferenceApiProps.cloudWatchRole).
 */
export function buildApp(app: App, options: BuildAppOptions = {}): MloopStack {
  const stackName = (app.node.tryGetContext('mloop:stackName') as string | undefined) ?? 'Mloop';
  const instanceType = app.node.tryGetContext('mloop:trainingInstanceType') as string | undefined;
  const trainingCodeDir = app.node.tryGetContext('mloop:trainingCodeDir') as string | undefined;
  const trainingEntryPoint = app.node.tryGetContext('mloop:trainingEntryPoint') as string | undefined;
  const datasetSchemas = datasetSchemasFromContext(app.node.tryGetContext(DATASET_SCHEMAS_CONTEXT_KEY), REPO_ROOT);
  const stack = new MloopStack(app, stackName, {
    description: 'mloop: the model life cycle as a loop (data, training, registry, inference, drift)',
    training: {
      instanceType,
      trainingCodeDir: trainingCodeDir ? path.resolve(trainingCodeDir) : undefined,
      trainingEntryPoint,
      trainers: app.node.tryGetContext('mloop:trainers') as TrainerChoice | undefined,
      requireApproval: [true, 'true'].includes(app.node.tryGetContext('mloop:requireApproval') as boolean | string),
      datasetSchemas,
      ingestionParts: {
        above: bytesContext(app, 'mloop:ingestPartsAbove'),
        partSize: bytesContext(app, 'mloop:ingestPartBytes'),
      },
    },
    inference: {
      cloudWatchRole: [true, 'true'].includes(app.node.tryGetContext('mloop:apiCloudWatchRole') as boolean | string),
    },
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

/** A size in bytes from a context key (a number, or a string of digits as `-c key=value` gives). */
function bytesContext(app: App, key: string): Size | undefined {
  const value = app.node.tryGetContext(key) as number | string | undefined;
  if (value === undefined) return undefined;
  const bytes = Number(value);
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`Context ${key} must be a whole number of bytes, got '${value}'.`);
  return Size.bytes(bytes);
}

/**
 * The context of cdk.json (feature flags and mloop settings). The CDK CLI reads it by itself;
 * code that builds the app in-process (tests, the local runtime) passes it explicitly so that all
 * of them synthesize the same template.
 */
export function cdkJsonContext(): Record<string, unknown> {
  const file = path.join(REPO_ROOT, 'cdk.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/**
 * An app synthesized in-process without bundling Lambda assets (the template is what matters;
 * bundling onnxruntime-node alone takes minutes). `cloudFormationValidation: false` skips CDK's
 * built-in check of the template against CloudFormation's schemas (a WebAssembly engine that
 * takes about 2.3 s of a synth): the local runtime reads a template that the tests and every
 * `cdk synth` validate, and only reports what that check finds as warnings anyway.
 */
export function inProcessApp(
  outdir?: string,
  context: Record<string, unknown> = {},
  options: { cloudFormationValidation?: boolean } = {},
): App {
  return new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context },
    builtinCloudFormationValidation: options.cloudFormationValidation ?? true,
  });
}
