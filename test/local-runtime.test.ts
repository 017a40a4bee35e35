/**
 * The local runtime: the template it reads from the synthesized CDK app, the assets it
 * publishes, state that survives a restart on the same home, and the pipeline's failure path
 * with training code that fails. One home serves two clouds in turn: the first (the repository's
 * training code) trains a champion; the second (a train.py that fails) must leave it untouched.
 * Each describe stops its cloud when its tests are done, so one cloud at a time owns the home, and
 * the champion comes from a fixture that trains it once, whichever describe (or test) runs first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { predictThroughApi } from '../bin/cli';
import { FUNCTIONS, type FunctionId } from '../lib/function-catalog';
import { s3Client } from '../lambdas/shared/clients';
import { loadEnv } from '../lambdas/shared/env';
import { parseS3Uri, s3Keys } from '../lambdas/shared/layout';
import type { AliasRecord } from '../lambdas/shared/registry/aliases';
import type { ModelVersionRecord } from '../lambdas/shared/registry/versions';
import { synthesizeLocal } from '../local/template';
import type { LocalTemplate } from '../local/template-types';
import { binaryClassificationCsv } from './helpers/datasets';
import { dropDataset, listKeys, startCloud, stopCloud, tempDir, trainModel, type TestCloud } from './helpers/cloud';

jest.setTimeout(60_000);

const SAGEMAKER_SYNC = /^arn:aws:states:::sagemaker:createTrainingJob\.sync$/;
const CHAMPION = 'steady';
const FRESH = 'fresh';
const REASON = 'the GPU caught fire';

let home: string;
let codeDir: string;
let first: TestCloud | undefined;
let second: TestCloud | undefined;
let championTraining: Promise<AliasRecord> | undefined;

/**
 * The champion of CHAMPION, trained once on the shared home with the repository's training code:
 * on `cloud` (the first cloud) when it is given, else on a cloud of the repository code started
 * for it and stopped after (keeping the home), so that the second cloud finds it after a restart
 * whichever describe runs first.
 */
function trainedChampion(cloud?: TestCloud): Promise<AliasRecord> {
  return (championTraining ??= (async () => {
    const on = cloud ?? (await startCloud({ home }));
    try {
      await trainModel(on, CHAMPION, binaryClassificationCsv(300, 41), 'label');
      return (await on.registry.aliases.get(CHAMPION, 'champion'))!;
    } finally {
      if (on !== cloud) await stopCloud(on, true);
    }
  })());
}

beforeAll(() => {
  home = tempDir('runtime-home');
  codeDir = tempDir('failing-code');
  fs.writeFileSync(
    path.join(codeDir, 'train.py'),
    [
      'import os, sys',
      "print('starting a training run that will fail', flush=True)",
      "with open(os.path.join(os.environ['SM_OUTPUT_DIR'], 'failure'), 'w') as f:",
      `    f.write('${REASON}\\n')`,
      'sys.exit(1)',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await stopCloud(first, true);
  await stopCloud(second, true);
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(codeDir, { recursive: true, force: true });
}, 60_000);

type TaskState = { Type: string; Resource?: string; Parameters?: Record<string, unknown> };

function taskStates(template: LocalTemplate): [string, TaskState][] {
  // The training pipeline's machine, then batch scoring's (lib/batch.ts; test/batch-scoring.test.ts runs it).
  expect(template.stateMachines.map((m) => m.logicalId.replace(/[0-9A-F]{8}$/, ''))).toEqual(['TrainingStateMachine', 'BatchStateMachine']);
  const states = (template.stateMachines[0].definition as { States: Record<string, TaskState> }).States;
  return Object.entries(states).filter(([, s]) => s.Type === 'Task');
}

describe('the first cloud: the repository training code', () => {
  let champion: AliasRecord;

  beforeAll(async () => {
    first = await startCloud({ home });
    champion = await trainedChampion(first);
  }, 180_000);

  it('reads the catalog functions with resolved environments that satisfy their contracts', () => {
    const { template } = first!.cloud;
    expect(template.functions.map((f) => f.functionId).sort()).toEqual((Object.keys(FUNCTIONS) as FunctionId[]).sort());
    expect(template.functions).toHaveLength(Object.keys(FUNCTIONS).length);
    const table = template.tables.map((t) => t.name);
    for (const fn of template.functions) {
      expect(fn.environment.DATA_BUCKET).toBe(first!.cloud.dataBucket);
      expect(template.buckets).toContain(fn.environment.DATA_BUCKET);
      expect(table).toContain(fn.environment.REGISTRY_TABLE);
      expect(fn.environment.POWERTOOLS_SERVICE_NAME).toBe(`mloop-${fn.functionId}`);
      for (const value of Object.values(fn.environment)) expect(value).not.toMatch(/\$\{Token|\[object Object\]|Fn::|"Ref"/);
      expect(() => loadEnv(FUNCTIONS[fn.functionId].env, fn.environment)).not.toThrow();
      expect(fn.arn).toMatch(/^arn:aws:lambda:us-east-1:000000000000:function:\S+$/);
    }
    expect(new Set(template.functions.map((f) => f.arn)).size).toBe(Object.keys(FUNCTIONS).length);
  });

  it('reads one state machine whose tasks are local functions or the SageMaker .sync integration', () => {
    const { template } = first!.cloud;
    const tasks = taskStates(template);
    const functionArns = new Set(template.functions.map((f) => f.arn));
    for (const [name, state] of tasks) {
      expect({ name, ok: functionArns.has(state.Resource!) || SAGEMAKER_SYNC.test(state.Resource!) }).toEqual({ name, ok: true });
    }
    expect(tasks.filter(([, s]) => SAGEMAKER_SYNC.test(s.Resource!)).map(([n]) => n)).toEqual(['Train model']);
    // Every pipeline function is a task, and neither API function is.
    const used = new Set(tasks.map(([, s]) => template.functions.find((f) => f.arn === s.Resource)?.functionId).filter(Boolean));
    expect([...used].sort()).toEqual(['evaluate', 'ingest', 'ingestParts', 'recordFailure', 'register']);
  });

  it('reads the dataset rule, the ended-execution rule, the drift schedule, the batch rule and the batch ended-execution rule', () => {
    const { template } = first!.cloud;
    expect(template.rules).toHaveLength(5);
    const dataset = template.rules.find(
      (r) => r.logicalId.startsWith('Training') && (r.pattern?.source as string[] | undefined)?.[0] === 'aws.s3',
    )!;
    // Executions that end stopped, timed out or failed reach the cleanup function (the state machine's resolved ARN).
    const statusRules = template.rules.filter((r) => (r.pattern?.source as string[] | undefined)?.[0] === 'aws.states');
    const ended = statusRules.find((r) => r.logicalId.startsWith('Training'))!;
    // The batch state machine's executions that end stopped, timed out or failed reach the batch function (the Failed event).
    const batchEnded = statusRules.find((r) => r.logicalId.startsWith('Batch'))!;
    const batchMachine = template.stateMachines.find((m) => m.logicalId.startsWith('Batch'))!;
    expect(batchEnded.pattern).toMatchObject({
      detail: { stateMachineArn: [batchMachine.arn], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
    });
    expect(batchEnded.targetArns).toEqual([template.functions.find((f) => f.functionId === 'batch')!.arn]);
    expect(ended.pattern).toMatchObject({
      detail: { stateMachineArn: [template.stateMachines[0].arn], status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] },
    });
    expect(ended.targetArns).toEqual([template.functions.find((f) => f.functionId === 'executionEnded')!.arn]);
    expect(dataset.pattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: [first!.cloud.dataBucket] }, object: { key: [{ prefix: 'datasets/' }] } },
    });
    // The dataset rule's target is the starter, which starts the state machine it is given.
    const starter = template.functions.find((f) => f.functionId === 'startPipeline')!;
    expect(dataset.targetArns).toEqual([starter.arn]);
    expect(starter.environment.STATE_MACHINE_ARN).toBe(template.stateMachines[0].arn);
    const schedule = template.rules.find((r) => r.schedule)!;
    expect(schedule.schedule).toBe('rate(1 hour)');
    expect(schedule.targetArns).toEqual([template.functions.find((f) => f.functionId === 'drift')!.arn]);
  });

  it('synthesizes the same names every time, so that state in a home outlives a run', () => {
    const dir = tempDir('synth');
    const again = synthesizeLocal(path.join(dir, 'cdk.out'));
    fs.rmSync(dir, { recursive: true, force: true });
    const { template } = first!.cloud;
    expect(again.functions.map((f) => [f.functionId, f.arn, f.environment]).sort()).toEqual(
      template.functions.map((f) => [f.functionId, f.arn, f.environment]).sort(),
    );
    expect(again.buckets).toEqual(template.buckets);
    expect(again.tables.map((t) => t.name)).toEqual(template.tables.map((t) => t.name));
    expect(again.stateMachines[0].arn).toBe(template.stateMachines[0].arn);
  });

  it('uploads the training code asset to the local asset bucket, where the Train task points', async () => {
    const { template } = first!.cloud;
    expect(template.assets.length).toBeGreaterThan(0);
    // The Train task's hyperparameters are laid out by the 'Resolve hyperparameters' state before it.
    const states = (template.stateMachines[0].definition as { States: Record<string, TaskState> }).States;
    const hyperparameters = states['Resolve hyperparameters'].Parameters as Record<string, string>;
    const submitted = parseS3Uri(hyperparameters.sagemaker_submit_directory);
    const asset = template.assets.find((a) => a.bucket === submitted.bucket && a.key === submitted.key);
    expect(asset).toBeDefined();
    expect(submitted.key).toMatch(/\.(tar\.gz|tgz|gz|zip)$/);
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: asset!.bucket, Key: asset!.key }));
    expect(head.ContentLength).toBe(fs.statSync(asset!.file).size);
    expect(hyperparameters.sagemaker_program).toBe('train.py');
  });

  it('trained a champion with the repository code', async () => {
    expect(champion).toMatchObject({ model: CHAMPION, alias: 'champion', version: 1 });
    const res = await predictThroughApi(first!.cloud, CHAMPION, { instances: [{ x1: 1, x2: 10, x3: 5, color: 'red' }] });
    expect(res.statusCode).toBe(200);
  });

  afterAll(async () => {
    await stopCloud(first, true);
    first = undefined;
  }, 60_000);
});

describe('the second cloud on the same home: training code that fails', () => {
  let before: { alias: AliasRecord; version: ModelVersionRecord; versionCounter: number | undefined };

  beforeAll(async () => {
    // The champion of the repository code is in the home before the second cloud starts on it.
    await trainedChampion();
    second = await startCloud({ home, trainingCodeDir: codeDir });
    const registry = second.registry;
    before = {
      alias: (await registry.aliases.get(CHAMPION, 'champion'))!,
      version: (await registry.versions.get(CHAMPION, 1))!,
      versionCounter: (await registry.models.get(CHAMPION))?.versionCounter,
    };
  }, 300_000);

  it('finds the registry and the artifacts of the first cloud: state survives a restart', async () => {
    expect(before.alias).toMatchObject({ model: CHAMPION, version: 1 });
    expect(before.version).toMatchObject({ model: CHAMPION, version: 1, status: 'registered', promoted: true });
    expect(before.versionCounter).toBe(1);
    const onnx = parseS3Uri(before.version.artifact.onnxUri);
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: onnx.bucket, Key: onnx.key }));
    expect(head.ContentLength).toBeGreaterThan(0);
    // The restarted API serves the champion trained before the restart.
    const res = (await predictThroughApi(second!.cloud, CHAMPION, {
      instances: [{ x1: 1, x2: 10, x3: 5, color: 'red' }],
    })) as APIGatewayProxyResult;
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).model).toEqual({ name: CHAMPION, version: 1 });
  });

  it("reads the states of the first cloud's run from the home, as GetExecutionHistory answers for a past execution on AWS", () => {
    const cloud = second!.cloud;
    const ran = cloud.stateMachines.list(cloud.pipelineStateMachineArn).find((e) => e.status === 'SUCCEEDED')!;
    const history = cloud.executionHistory(ran.executionArn)!;
    const entered = history
      .filter((e) => e.type.endsWith('StateEntered'))
      .map((e) => (e.stateEnteredEventDetails as { name: string }).name);
    expect(entered).toEqual(expect.arrayContaining(['Ingest dataset', 'Train model', 'Evaluate candidate']));
    expect(history[0].type).toBe('ExecutionStarted');
    expect(history[history.length - 1].type).toBe('ExecutionSucceeded');
    expect(history.map((e) => e.id)).toEqual(history.map((_, i) => i + 1));
  });

  it('fails the run of a model with a champion at Train, with the reason, and leaves the champion where it was', async () => {
    const result = await dropDataset(second!.cloud, CHAMPION, 'more-data.csv', binaryClassificationCsv(300, 42));
    expect(result.status).toBe('FAILED');
    expect(result.cause).toContain('Train failed');
    expect(result.cause).toContain(REASON);
    expect(result.cause).toMatch(/Train failed: Training job mloop-steady-d2-[0-9a-f]{8} failed: AlgorithmError: the GPU caught fire/);
    expect(second!.logs.some((line) => line.includes('starting a training run that will fail'))).toBe(true);

    const registry = second!.registry;
    expect(await registry.runs.get(CHAMPION, result.execution)).toMatchObject({
      status: 'FAILED',
      stage: 'Train',
      error: 'States.TaskFailed',
      datasetVersion: 2,
      reason: expect.stringContaining(REASON),
    });
    // The champion, its version and the version counter are untouched.
    expect(await registry.aliases.get(CHAMPION, 'champion')).toEqual(before.alias);
    expect(await registry.versions.get(CHAMPION, 1)).toEqual(before.version);
    expect(await registry.versions.list(CHAMPION)).toHaveLength(1);
    expect((await registry.models.get(CHAMPION))?.versionCounter).toBe(before.versionCounter);
    // The dataset itself was fine: it stays accepted as version 2.
    expect(await registry.datasets.get(CHAMPION, 2)).toMatchObject({ status: 'accepted' });
    const res = await predictThroughApi(second!.cloud, CHAMPION, { instances: [{ x1: 1, x2: 10, x3: 5, color: 'red' }] });
    expect(JSON.parse(res.body).model).toEqual({ name: CHAMPION, version: 1 });
  });

  it('fails the first run of a fresh model and sets no alias', async () => {
    const result = await dropDataset(second!.cloud, FRESH, 'first.csv', binaryClassificationCsv(200, 43), 'label');
    expect(result.status).toBe('FAILED');
    expect(result.cause).toContain(`Train failed: Training job mloop-${FRESH}-d1-`);
    expect(result.cause).toContain(REASON);
    const registry = second!.registry;
    expect(await registry.runs.get(FRESH, result.execution)).toMatchObject({
      status: 'FAILED',
      stage: 'Train',
      reason: expect.stringContaining(REASON),
    });
    expect(await registry.aliases.get(FRESH, 'champion')).toBeUndefined();
    expect(await registry.versions.list(FRESH)).toEqual([]);
    // Nothing was registered, so nothing is served.
    const res = await predictThroughApi(second!.cloud, FRESH, { instances: [{ x1: 1, x2: 10, x3: 5, color: 'red' }] });
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).message).toBe(`Model '${FRESH}' has no version with alias 'champion' yet.`);
    // No model artifact was written either.
    expect(await listKeys(second!.cloud.dataBucket, s3Keys.modelPrefix(FRESH, 1))).toEqual([]);
  });

  afterAll(async () => {
    await stopCloud(second, true);
    second = undefined;
  }, 60_000);
});
