/**
 * Training locally as on AWS: a user's own training directory run through the whole pipeline
 * (LocalCloud.start({ trainingCodeDir }) synthesizes the app with it, as `cdk deploy -c
 * mloop:trainingCodeDir=DIR` would), hyperparameters.json dropped beside the datasets and merged
 * into the job's hyperparameters, and the local SageMaker runner's CheckpointConfig: checkpoints
 * restored from and saved to S3, so that a re-run of a job resumes where the last one stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { REPO_ROOT } from '../lib/function-catalog';
import { codeVersion } from '../lib/training-code';
import { parseHyperparameters } from '../lambdas/data/hyperparameters';
import { readModelArchive } from '../lambdas/registry/artifact';
import { s3Client } from '../lambdas/shared/clients';
import { parseS3Uri, s3Keys } from '../lambdas/shared/layout';
import type { ModelCard } from '../lambdas/shared/types';
import { predictThroughApi } from '../bin/cli';
import { runTrainingJob, type CreateTrainingJobRequest, type TrainingJobDescription } from '../local/trainer';
import { binaryClassificationCsv, mulberry32 } from './helpers/datasets';
import {
  dropDataset,
  getObjectJson,
  listKeys,
  putObject,
  startCloud,
  stopCloud,
  tempDir,
  trainModel,
  type TestCloud,
} from './helpers/cloud';

jest.setTimeout(180_000);

const CUSTOM_CODE = path.join(__dirname, 'fixtures', 'custom-training');

/** Numeric features only (the custom trainer's kind of data); label = x1 + x2/2 > 0. */
function numericCsv(rows: number, seed: number): string {
  const random = mulberry32(seed);
  const lines = ['x1,x2,x3,label'];
  for (let i = 0; i < rows; i++) {
    const [x1, x2, x3] = [random() * 4 - 2, random() * 4 - 2, random() * 4 - 2];
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x3.toFixed(4)},${x1 + x2 / 2 > 0 ? 1 : 0}`);
  }
  return `${lines.join('\n')}\n`;
}

let test_: TestCloud | undefined;
const t = () => test_!;

beforeAll(async () => {
  test_ = await startCloud({ trainingCodeDir: CUSTOM_CODE });
}, 120_000);

afterAll(async () => {
  await stopCloud(test_);
}, 60_000);

describe("a user's own training directory", () => {
  const MODEL = 'own-code';

  test('runs end to end through the pipeline: trained by the custom script, registered with its code version, served', async () => {
    // hyperparameters.json beside the datasets: validated when dropped, then merged into every job.
    const config = await dropDataset(
      t().cloud,
      MODEL,
      'hyperparameters.json',
      JSON.stringify({ steps: 150, learning_rate: 0.2, note: 'from the file', verbose: true }),
    );
    expect(config.status).toBe('SUCCEEDED');
    expect((config.output?.ingest as { status: string }).status).toBe('CONFIG');

    const report = await trainModel(t(), MODEL, numericCsv(400, 7), 'label');
    expect(report).toMatchObject({ status: 'SUCCEEDED', datasetVersion: 1, modelVersion: 1, promoted: true });
    expect(report.metrics!.accuracy).toBeGreaterThan(0.85);
    expect(t().logs.some((line) => line.includes('custom trainer: hyperparameters'))).toBe(true);

    const version = (await t().registry.versions.get(MODEL, 1))!;
    // The code version is the hash of the user's folder: the code the job ran is the code recorded.
    expect(version.lineage.codeVersion).toBe(codeVersion(CUSTOM_CODE));
    expect(version.lineage.codeVersion).not.toBe(codeVersion(path.join(REPO_ROOT, 'training')));
    // The card records what the script received: the file's values (as SageMaker strings) beside
    // the target and task that ingest fixed; script mode's own sagemaker_* never reach the script.
    expect(version.lineage.hyperparameters).toEqual({
      steps: '150',
      learning_rate: '0.2',
      note: 'from the file',
      verbose: 'true',
      target: 'label',
      task: 'classification',
    });
    const card = await getObjectJson<ModelCard>(t().cloud.dataBucket, s3Keys.modelCard(MODEL, 1));
    expect(card.framework).toBe('custom-logistic-regression');
    expect(card.epochs).toBe(150);

    const res = await predictThroughApi(t().cloud, MODEL, {
      instances: [
        { x1: 1.5, x2: 1, x3: 0 },
        { x1: -1.5, x2: -1, x3: 0 },
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body) as { predictions: { label: string }[] };
    expect(body.predictions.map((p) => p.label)).toEqual(['1', '0']);
  });

  test('a bad hyperparameters.json fails the next run at Ingest, naming the key, before a dataset version is taken', async () => {
    const model = 'bad-hps';
    const config = await dropDataset(t().cloud, model, 'hyperparameters.json', JSON.stringify({ steps: { nested: 1 } }));
    expect(config.status).toBe('FAILED');
    expect(config.cause).toContain("hyperparameter 'steps' must be a string, a number or a boolean, got an object");

    const result = await dropDataset(t().cloud, model, 'data.csv', numericCsv(200, 8), 'label');
    expect(result.status).toBe('FAILED');
    expect(result.cause).toContain(`s3://${t().cloud.dataBucket}/datasets/${model}/hyperparameters.json: hyperparameter 'steps'`);
    expect(await t().registry.runs.get(model, result.execution)).toMatchObject({ status: 'FAILED', stage: 'Ingest' });
    expect(await t().registry.datasets.get(model, 1)).toBeUndefined();
  });

  test("a hyperparameters.json past SageMaker's 100 fails at Ingest through the local runtime, naming the count; 95 pass", async () => {
    const model = 'many-hps';
    const hps = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`hp${i}`, i])));
    const over = await dropDataset(t().cloud, model, 'hyperparameters.json', hps(96));
    expect(over.status).toBe('FAILED');
    expect(over.cause).toContain(
      `s3://${t().cloud.dataBucket}/datasets/${model}/hyperparameters.json has 96 hyperparameters; with the 5 the pipeline sets`,
    );
    expect(over.cause).toContain('a training job would get 101; SageMaker takes at most 100: remove 1.');
    const atLimit = await dropDataset(t().cloud, model, 'hyperparameters.json', hps(95));
    expect(atLimit.status).toBe('SUCCEEDED');
  });
});

describe('hyperparameters.json', () => {
  const SOURCE = 's3://b/datasets/m/hyperparameters.json';

  test('gives strings, numbers and booleans as SageMaker strings', () => {
    expect(parseHyperparameters('{"epochs": 50, "learning_rate": 0.001, "device": "cpu", "flag": false, "tiny": 1e-7}', SOURCE)).toEqual({
      epochs: '50',
      learning_rate: '0.001',
      device: 'cpu',
      flag: 'false',
      tiny: '1e-7',
    });
    expect(parseHyperparameters('\uFEFF{}', SOURCE)).toEqual({});
  });

  test.each([
    ['not JSON', '{epochs: 5}', /^s3:\/\/b\/datasets\/m\/hyperparameters.json is not valid JSON: /],
    ['an array', '[1, 2]', /must be a JSON object of hyperparameter names to values, got an array/],
    ['a null value', '{"epochs": null}', /hyperparameter 'epochs' must be a string, a number or a boolean, got null/],
    ['a list value', '{"layers": [64, 64]}', /hyperparameter 'layers' must be a string, a number or a boolean, got an array/],
    ['a too long value', JSON.stringify({ note: 'x'.repeat(2501) }), /hyperparameter 'note' must be at most 2500 characters long/],
    ['the target', '{"target": "y"}', /hyperparameter 'target' is set by the pipeline/],
    ['the task', '{"task": "regression"}', /hyperparameter 'task' is set by the pipeline/],
    ['a sagemaker_ name', '{"sagemaker_program": "evil.py"}', /hyperparameter 'sagemaker_program' is reserved/],
    ['a blank name', '{" ": 1}', /hyperparameter name ' ' must be 1 to 256 characters long and not blank/],
  ])('rejects %s, naming the file and the key', (_name, text, message) => {
    expect(() => parseHyperparameters(text, SOURCE)).toThrow(message);
    expect(() => parseHyperparameters(text, SOURCE)).toThrow(expect.objectContaining({ name: 'InvalidInput' }));
  });
});

describe('the local SageMaker runner and CheckpointConfig', () => {
  const PREFIX = 'scratch/checkpoint-test/';
  let workDir: string;
  let logs: string[];

  beforeAll(async () => {
    workDir = tempDir('ck-jobs');
    await putObject(t().cloud.dataBucket, `${PREFIX}train/train.csv`, binaryClassificationCsv(400, 21));
  });
  afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

  const request = (name: string, epochs: number, checkpoints: boolean): CreateTrainingJobRequest => ({
    TrainingJobName: name,
    AlgorithmSpecification: { MetricDefinitions: [{ Name: 'validation:log_loss', Regex: 'validation_log_loss=([-+0-9.eE]+)' }] },
    HyperParameters: { sagemaker_program: 'train.py', target: 'label', epochs: String(epochs), patience: '0' },
    InputDataConfig: [{ ChannelName: 'train', DataSource: { S3DataSource: { S3Uri: `s3://${t().cloud.dataBucket}/${PREFIX}train/` } } }],
    OutputDataConfig: { S3OutputPath: `s3://${t().cloud.dataBucket}/training/` },
    StoppingCondition: { MaxRuntimeInSeconds: 600, ...(checkpoints ? { MaxWaitTimeInSeconds: 1200 } : {}) },
    ...(checkpoints
      ? { EnableManagedSpotTraining: true, CheckpointConfig: { S3Uri: `s3://${t().cloud.dataBucket}/checkpoints/${name}/` } }
      : {}),
  });
  const run = (req: CreateTrainingJobRequest): Promise<TrainingJobDescription> => {
    logs = [];
    return runTrainingJob(req, { workDir, codeDir: path.join(REPO_ROOT, 'training'), onLog: (line) => logs.push(line) });
  };
  const logLoss = (d: TrainingJobDescription) => d.FinalMetricDataList?.find((m) => m.MetricName === 'validation:log_loss')?.Value;

  test('saves the checkpoint folder to S3, and a re-run of the job resumes from it with the same result as one run', async () => {
    const first = await run(request('mloop-ck-d1-00000001', 2, true));
    expect(first.TrainingJobStatus).toBe('Completed');
    expect(logs).toContain(`checkpoints: none yet from s3://${t().cloud.dataBucket}/checkpoints/mloop-ck-d1-00000001/`);
    expect(logs.filter((l) => l.startsWith('local training ignores'))).toEqual([
      expect.stringMatching(/^local training ignores EnableManagedSpotTraining, MaxWaitTimeInSeconds: /),
    ]);
    expect(await listKeys(t().cloud.dataBucket, 'checkpoints/mloop-ck-d1-00000001/')).toEqual([
      'checkpoints/mloop-ck-d1-00000001/checkpoint.pt',
    ]);

    // As after a spot interruption: the same job again (here allowed two more epochs).
    const resumed = await run(request('mloop-ck-d1-00000001', 4, true));
    expect(logs).toContain(`checkpoints: restored 1 file(s) from s3://${t().cloud.dataBucket}/checkpoints/mloop-ck-d1-00000001/`);
    expect(logs.some((l) => /^resuming from checkpoint .*: 2 epochs done/.test(l))).toBe(true);
    expect(logs.filter((l) => /^epoch=\d+ /.test(l)).map((l) => l.split(' ')[0])).toEqual(['epoch=3', 'epoch=4']);
    // The card's loss curve keeps the epochs run before the interruption (they travel in the checkpoint).
    const { bucket, key } = parseS3Uri(resumed.ModelArtifacts!.S3ModelArtifacts!);
    const archive = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const files = await readModelArchive(archive.Body as Readable, key);
    const curve = (JSON.parse(files.card.toString('utf8')) as ModelCard).lossCurve!;
    expect(curve.map(([epoch]) => epoch)).toEqual([1, 2, 3, 4]);

    const straight = await run(request('mloop-ck-d1-00000002', 4, false));
    expect(logs.some((l) => l.startsWith('checkpoints:') || l.startsWith('resuming'))).toBe(false);
    expect(logLoss(resumed)).toBeDefined();
    expect(logLoss(resumed)).toBe(logLoss(straight));
  });
});
