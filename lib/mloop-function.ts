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
import * as fs from 'node:fs';
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
 * - functions that run ONNX carry onnxruntime-node (and onnxruntime-common) as modules copied
 *   from the installed ones (the native binding cannot be bundled), linux/arm64 binaries only
 *   (about 48 MB instead of 288).
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
      ...bundlingRoot(),
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
        // onnxruntime-node's native binding cannot be bundled: it stays a module, copied from
        // the installed one (no npm install at synth: no network, no lock file of the user's app
        // read, no install script, which would download CUDA add-ons from outside the registries).
        ...(spec.onnx
          ? {
              externalModules: [...BUNDLE_OPTIONS.externalModules, 'onnxruntime-node'],
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_input: string, output: string) => copyOnnxRuntime(output),
              },
            }
          : {}),
      },
    });
    this.functionId = props.functionId;
    (this.node.defaultChild as lambda.CfnFunction).addMetadata(FUNCTION_METADATA_KEY, props.functionId);
  }
}

/** Lock files NodejsFunction knows, in the order it looks for them. */
const LOCK_FILES = ['package-lock.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lockb', 'bun.lock'];

/**
 * The project root and lock file NodejsFunction wants (both must contain the entries). In a clone
 * that is the repository and its package-lock.json; in an installed package (npm never ships a
 * package-lock.json) it is the app that installed mloop, found from the package upwards. Bundling
 * is esbuild's alone (no nodeModules install), so the lock file decides nothing but the root.
 */
export function bundlingRoot(packageRoot: string = REPO_ROOT): { projectRoot: string; depsLockFilePath: string } {
  for (let dir = packageRoot; ; dir = path.dirname(dir)) {
    const lock = LOCK_FILES.map((name) => path.join(dir, name)).find((file) => fs.existsSync(file));
    if (lock) return { projectRoot: dir, depsLockFilePath: lock };
    if (path.dirname(dir) === dir) {
      throw new Error(
        `mloop's Lambda bundling: no lock file (${LOCK_FILES.join(', ')}) at or above ${packageRoot}; install mloop into an app with a package manager that writes one (npm install writes package-lock.json).`,
      );
    }
  }
}

/** The folder of an installed package, resolved as the bundled code will require it. */
function installedPackage(name: string, from: string): string {
  const main = require.resolve(name, { paths: [from] });
  for (let dir = path.dirname(main); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (path.basename(dir) === name && fs.existsSync(path.join(dir, 'package.json'))) return dir;
  }
  throw new Error(`mloop's Lambda bundling: ${name} resolved to ${main}, but no ${name} folder with a package.json holds it.`);
}

/**
 * Shell commands that copy onnxruntime-node and onnxruntime-common, as installed beside mloop,
 * into a bundle's node_modules: everything but the native binaries of other platforms (the
 * function runs on linux/arm64).
 */
export function copyOnnxRuntime(output: string, from: string = REPO_ROOT): string[] {
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const node = installedPackage('onnxruntime-node', from);
  const common = installedPackage('onnxruntime-common', node);
  const target = path.join(output, 'node_modules', 'onnxruntime-node');
  const arm64 = path.join('bin', 'napi-v6', 'linux', 'arm64');
  const commands = [`mkdir -p ${q(path.join(target, path.dirname(arm64)))}`];
  for (const entry of fs.readdirSync(node)) {
    if (entry === 'bin' || entry === 'node_modules') continue;
    commands.push(`cp -R ${q(path.join(node, entry))} ${q(path.join(target, entry))}`);
  }
  commands.push(`cp -R ${q(path.join(node, arm64))} ${q(path.join(target, arm64))}`);
  commands.push(`cp -R ${q(common)} ${q(path.join(output, 'node_modules', 'onnxruntime-common'))}`);
  return commands;
}
