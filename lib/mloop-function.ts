/**
 * MloopFunction, the one Lambda base construct of mloop: every function of the catalog
 * (lib/function-catalog.ts) is built through it, with the shared defaults set once.
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { type Construct } from 'constructs';
import { entryPath, FUNCTION_METADATA_KEY, FUNCTIONS, REPO_ROOT, type FunctionEnvironment, type FunctionId } from './function-catalog';

export interface MloopFunctionProps<Id extends FunctionId> {
  /** Which function of the catalog to build. */
  readonly functionId: Id;
  /** Its environment, typed by the function's contract. */
  readonly environment: FunctionEnvironment<Id>;
  /**
   * How long its logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Where the events of asynchronous invocations (EventBridge targets) go once Lambda's retries
   * have failed: the message body is the event, ready to be sent again.
   * @default - none: such an event is dropped after the retries
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

/**
 * The Lambda runtime of every function (the project's rule: Node.js 22 or newer), and the
 * esbuild target its bundles are built for, which follows it.
 */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;
export const BUNDLING_TARGET = LAMBDA_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, 'node$1');

/**
 * How esbuild bundles every function, the AWS SDK included: the exact versions package-lock.json
 * pins and the tests run, not the runtime's own copies (whose lib-dynamodb and lib-storage are
 * other versions), tree-shaken from the SDK's ES modules (`module` before `main`) and minified.
 * The bench (bench/inference.ts) and the bundle test (test/function-bundle.test.ts) build with
 * these same options.
 */
export const BUNDLE_OPTIONS = {
  minify: true,
  mainFields: ['module', 'main'],
  /** Nothing of the SDK is left to the runtime. */
  externalModules: [] as string[],
} as const;

/**
 * The one Lambda base of mloop. Shared defaults, set once:
 * - Node.js 24 (LAMBDA_RUNTIME) on ARM64 (Graviton: cheaper per GB-second; onnxruntime-node ships
 *   linux/arm64), bundled for that same version;
 * - memory and timeout from the function catalog;
 * - JSON logs to a log group with a retention (default three months), X-Ray tracing active;
 * - bundled by esbuild (no Docker), minified, with source maps, the AWS SDK inside (BUNDLE_OPTIONS);
 * - functions that run ONNX carry onnxruntime-node as an installed module (its native binding
 *   cannot be bundled), pruned after bundling to linux/arm64 only (about 48 MB instead of 288).
 */
export class MloopFunction<Id extends FunctionId> extends nodejs.NodejsFunction {
  readonly functionId: Id;

  constructor(scope: Construct, id: string, props: MloopFunctionProps<Id>) {
    const spec = FUNCTIONS[props.functionId];
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    super(scope, id, {
      entry: entryPath(props.functionId),
      handler: 'handler',
      description: spec.description,
      runtime: LAMBDA_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      tracing: lambda.Tracing.ACTIVE,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
      deadLetterQueue: props.deadLetterQueue,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      environment: {
        ...(props.environment as Record<string, string>),
        POWERTOOLS_SERVICE_NAME: `mloop-${props.functionId}`,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        minify: BUNDLE_OPTIONS.minify,
        sourceMap: true,
        target: BUNDLING_TARGET,
        format: nodejs.OutputFormat.CJS,
        mainFields: [...BUNDLE_OPTIONS.mainFields],
        externalModules: [...BUNDLE_OPTIONS.externalModules],
        ...(spec.onnx
          ? {
              nodeModules: ['onnxruntime-node'],
              // onnxruntime-node's install script downloads CUDA add-ons from outside the
              // registries; the CPU binaries are in the package itself.
              environment: { ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_ignore_scripts: 'true' },
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_input: string, output: string) => {
                  const bin = `${output}/node_modules/onnxruntime-node/bin/napi-v6`;
                  return [`rm -rf ${bin}/darwin ${bin}/win32 ${bin}/linux/x64`];
                },
              },
            }
          : {}),
      },
    });
    this.functionId = props.functionId;
    (this.node.defaultChild as lambda.CfnFunction).addMetadata(FUNCTION_METADATA_KEY, props.functionId);
  }
}
