/**
 * The function catalog: every Lambda function of mloop, once. The CDK constructs build their
 * functions from it and the local runtime finds each function's handler module through it (the
 * template marks each function with its catalog id), so no function exists in only one of the two.
 */
import * as path from 'node:path';
import { batchEnv, executionEndedEnv, startBatchEnv, startPipelineEnv } from '../lambdas/shared/env';
import type { z } from 'zod';
import { PACKAGE_ROOT } from './package-root';
import { driftEnv, evaluateEnv, ingestEnv, modelsEnv, predictEnv, recordFailureEnv, registerEnv } from '../lambdas/shared/env';

export interface FunctionSpec {
  /** Handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** The environment contract the handler checks at cold start. */
  readonly env: z.ZodObject;
  /** Whether the function runs ONNX models (its asset then carries onnxruntime-node). */
  readonly onnx: boolean;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
}

export const FUNCTIONS = {
  executionEnded: {
    entry: 'lambdas/pipeline/ended-handler.ts',
    description: "mloop: give back a stopped or timed-out execution's training lease and unfinished content claims",
    env: executionEndedEnv,
    onnx: false,
    memoryMb: 256,
    timeoutSeconds: 60,
  },
  startPipeline: {
    entry: 'lambdas/pipeline/start-handler.ts',
    description: 'mloop: start the training pipeline once per dropped object version',
    env: startPipelineEnv,
    onnx: false,
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  ingest: {
    entry: 'lambdas/data/ingest-handler.ts',
    description: 'mloop: validate, profile, version and split a dropped dataset',
    env: ingestEnv,
    onnx: false,
    memoryMb: 1024,
    timeoutSeconds: 900,
  },
  ingestParts: {
    entry: 'lambdas/data/parts-handler.ts',
    description: 'mloop: hash, scan, merge and split a big dataset in parts (Map states)',
    env: ingestEnv,
    onnx: false,
    // One full vCPU for the scan of a part; the merge holds one part's scan at a time.
    memoryMb: 1769,
    timeoutSeconds: 900,
  },
  evaluate: {
    entry: 'lambdas/registry/evaluate-handler.ts',
    description: 'mloop: score the candidate and the champion on the test split',
    env: evaluateEnv,
    onnx: true,
    memoryMb: 2048,
    timeoutSeconds: 900,
  },
  register: {
    entry: 'lambdas/registry/register-handler.ts',
    description: 'mloop: register a model version and move the champion alias',
    env: registerEnv,
    onnx: false,
    memoryMb: 512,
    timeoutSeconds: 60,
  },
  recordFailure: {
    entry: 'lambdas/registry/record-failure-handler.ts',
    description: 'mloop: record a failed pipeline run with its reason',
    env: recordFailureEnv,
    onnx: false,
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  models: {
    entry: 'lambdas/registry/models-handler.ts',
    description: 'mloop: promote, roll back, approve or reject model versions; alias history and lineage',
    env: modelsEnv,
    onnx: false,
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  predict: {
    entry: 'lambdas/inference/predict-handler.ts',
    description: 'mloop: prediction API',
    env: predictEnv,
    onnx: true,
    memoryMb: 1024,
    timeoutSeconds: 29,
  },
  drift: {
    entry: 'lambdas/monitoring/drift-handler.ts',
    description: 'mloop: drift monitor',
    env: driftEnv,
    onnx: false,
    memoryMb: 1024,
    timeoutSeconds: 900,
  },
  startBatch: {
    entry: 'lambdas/batch/start-handler.ts',
    description: 'mloop: start batch scoring once per object version dropped under batch/',
    env: startBatchEnv,
    onnx: false,
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  batch: {
    entry: 'lambdas/batch/batch-handler.ts',
    description: 'mloop: batch scoring: plan a file, score a part, merge the parts (Distributed Map)',
    env: batchEnv,
    onnx: true,
    // One full vCPU for ONNX inference and parsing; a part holds one batch of rows at a time.
    memoryMb: 1769,
    timeoutSeconds: 900,
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionId = keyof typeof FUNCTIONS;

/** The environment a construct hands a function: the contract's keys, as strings. */
export type FunctionEnvironment<Id extends FunctionId> = { [K in keyof z.input<(typeof FUNCTIONS)[Id]['env']>]?: string } & {
  REGISTRY_TABLE: string;
  DATA_BUCKET: string;
};

/** The metadata key that marks a function's catalog id in the synthesized template. */
export const FUNCTION_METADATA_KEY = 'mloop:function';

/**
 * The root the entries are relative to: mloop's package root (lib/package-root.ts), the
 * repository in a clone and node_modules/mloop where the package is installed (it ships lambdas/).
 */
export const REPO_ROOT = PACKAGE_ROOT;

export function entryPath(id: FunctionId): string {
  return path.join(REPO_ROOT, FUNCTIONS[id].entry);
}
