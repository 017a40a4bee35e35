/**
 * Step Functions' 256 KiB per state: the check each stage runs on its answer, and the local
 * runtime's enforcement (local/payload-watch.ts) on a small state machine run by the same
 * interpreter as the pipeline: a task result, or a state merged by ResultPath, over the limit ends
 * the execution with States.DataLimitExceeded, and the Catch's failure path never runs.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { PayloadWatch, type TaskHandler } from '../local/payload-watch';
import { MAX_HYPERPARAMETERS_BYTES } from '../lambdas/data/hyperparameter-limits';
import { parseHyperparameters } from '../lambdas/data/hyperparameters';
import { evaluationState } from '../lambdas/registry/champion-challenge';
import { classificationDetails } from '../lambdas/registry/metrics';
import { s3Keys } from '../lambdas/shared/layout';
import type { EvaluationReport } from '../lambdas/shared/pipeline';
import {
  assertStatePayload,
  EVALUATE_OUTPUT_BUDGET_BYTES,
  jsonBytes,
  STAGE_OUTPUT_BUDGET_BYTES,
  STATE_PAYLOAD_LIMIT_BYTES,
  StatePayloadTooLarge,
} from '../lambdas/shared/state-payload';

const kb = (n: number) => 'x'.repeat(n * 1024);

describe('assertStatePayload', () => {
  it('passes an answer at exactly the budget', () => {
    // {"a":"..."} is 8 bytes of JSON around the string.
    const atBudget = { a: 'x'.repeat(STAGE_OUTPUT_BUDGET_BYTES - 8) };
    expect(jsonBytes(atBudget)).toBe(STAGE_OUTPUT_BUDGET_BYTES);
    expect(assertStatePayload(atBudget, 'Evaluate')).toBe(atBudget);
  });

  it('refuses one byte more, naming the stage, the size and the largest fields', () => {
    const over = { small: 1, big: 'x'.repeat(STAGE_OUTPUT_BUDGET_BYTES - 19) };
    expect(jsonBytes(over)).toBe(STAGE_OUTPUT_BUDGET_BYTES + 1);
    expect(() => assertStatePayload(over, 'Evaluate')).toThrow(StatePayloadTooLarge);
    expect(() => assertStatePayload(over, 'Evaluate')).toThrow(
      /^Evaluate's answer is 64\.0 KiB of JSON, over the 64\.0 KiB a stage may put in the execution state \(Step Functions carries at most 256\.0 KiB per state\); largest fields: big 64\.0 KiB, small 0\.0 KiB\.$/,
    );
  });

  it('counts UTF-8 bytes, not characters', () => {
    expect(jsonBytes({ s: 'é' })).toBe(10); // {"s":"é"}: 8 ASCII bytes and é, 2 bytes
  });
});

/** Run a definition locally as LocalStateMachines does: the watch wraps the tasks and follows the run. */
async function runWatched(definition: object, handlers: Record<string, TaskHandler>, input: object = {}) {
  const watch = new PayloadWatch();
  const run = new StateMachine(definition as never, { validationOptions: { checkArn: false } }).run(input as never, {
    overrides: { taskResourceLocalHandlers: watch.wrap(handlers) as never },
  });
  watch.follow(run);
  try {
    const output = await run.result;
    return { output, failure: await watch.outcome(output) };
  } catch (error) {
    return { error, failure: await watch.outcome() };
  }
}

const task = (next: string | undefined, resultPath: string) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  ResultPath: resultPath,
  Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Record failure' }],
  ...(next ? { Next: next } : { End: true }),
});
const definition = {
  StartAt: 'First',
  States: {
    First: task('Second', '$.first'),
    Second: task('Third', '$.second'),
    Third: task(undefined, '$.third'),
    'Record failure': { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', ResultPath: '$.failure', Next: 'Failed' },
    Failed: { Type: 'Fail', Error: 'PipelineFailed' },
  },
};

describe('the local runtime enforces 256 KiB per state', () => {
  it('runs a state machine whose states stay under the limit', async () => {
    const ran: string[] = [];
    const handler = (name: string) => async () => (ran.push(name), kb(60));
    const out = await runWatched(definition, { First: handler('First'), Second: handler('Second'), Third: handler('Third') });
    expect(out.failure).toBeUndefined();
    expect(ran).toEqual(['First', 'Second', 'Third']);
    expect(jsonBytes(out.output)).toBeLessThan(STATE_PAYLOAD_LIMIT_BYTES);
  });

  it('fails a task result over the limit with States.DataLimitExceeded, without the failure path', async () => {
    const ran: string[] = [];
    const out = await runWatched(definition, {
      First: async () => (ran.push('First'), kb(257)),
      Second: async () => (ran.push('Second'), 'ok'),
      Third: async () => (ran.push('Third'), 'ok'),
      'Record failure': async () => (ran.push('Record failure'), 'recorded'),
    });
    expect(out.failure?.error).toBe('States.DataLimitExceeded');
    expect(out.failure?.cause).toMatch(/the result of state 'First' is 263\d{3} bytes \(257\.0 KiB\), over 262144 \(256\.0 KiB\)/);
    expect(ran).toEqual(['First']);
  });

  it('fails when ResultPath merges the state past the limit, before the next task runs', async () => {
    const ran: string[] = [];
    // Each result alone is under the limit; the state holding both is not.
    const out = await runWatched(definition, {
      First: async () => (ran.push('First'), kb(130)),
      Second: async () => (ran.push('Second'), kb(130)),
      Third: async () => (ran.push('Third'), 'ok'),
      'Record failure': async () => (ran.push('Record failure'), 'recorded'),
    });
    expect(out.failure?.error).toBe('States.DataLimitExceeded');
    expect(out.failure?.cause).toMatch(/the output of state 'Second' is \d+ bytes \(260\.0 KiB\)/);
    expect(ran).toEqual(['First', 'Second']);
  });

  it('fails an execution whose last state ends over the limit', async () => {
    const out = await runWatched(
      { StartAt: 'Only', States: { Only: { Type: 'Pass', Result: kb(300), ResultPath: '$.big', End: true } } },
      {},
    );
    expect(out.failure?.error).toBe('States.DataLimitExceeded');
    expect(out.failure?.cause).toMatch(/state 'Only'/);
  });
});

describe('the largest execution state: 1,000 classes, 100 hyperparameters, 1,000 parts', () => {
  const CLASSES = 1000;
  const classes = Array.from({ length: CLASSES }, (_, i) => `class-${String(i).padStart(4, '0')}`);
  // One test row per class, each predicted as the next class: every cell of the matrix's band used.
  const truth = classes.slice();
  const probabilities = classes.map((_, i) => classes.map((__, j) => (j === (i + 1) % CLASSES ? 0.9 : 0.1 / (CLASSES - 1))));
  const details = classificationDetails(truth, probabilities, classes);

  // The two sets of hyperparameters a person writes, each at its limits: the stack's prop (45
  // names) and hyperparameters.json (50 more), 100 with the pipeline's five, 32 KiB of JSON each.
  const filled = (prefix: string, n: number) => {
    const names = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
    const values: Record<string, string> = Object.fromEntries(names.map((name) => [name, '']));
    const room = MAX_HYPERPARAMETERS_BYTES - Buffer.byteLength(JSON.stringify(values), 'utf8');
    names.forEach((name, i) => (values[name] = 'v'.repeat(Math.floor(room / n) + (i < room % n ? 1 : 0))));
    return values;
  };
  const stackHyperparameters = filled('stack_', 45);
  const fileHyperparameters = parseHyperparameters(JSON.stringify(filled('file_', 50)), 's3://b/datasets/m/hyperparameters.json', [
    ...Object.keys(stackHyperparameters),
  ]);
  const merged = { ...stackHyperparameters, ...fileHyperparameters };

  const bucket = 'mloop-data-bucket-123456789012-eu-west-1';
  const model = 'a-model-name-of-forty-characters-long-xx';
  const execution = 'v-3f2a9c0e8b7d4a1f9e6c5b4a3d2e1f0a-0123456789abcdef';
  const ingest = {
    status: 'ACCEPTED',
    model,
    datasetVersion: 123456,
    sha256: 'f'.repeat(64),
    s3VersionId: 'x'.repeat(32),
    target: 't'.repeat(256),
    task: 'classification',
    trainingJobName: `mloop-${model}-${execution}`.slice(0, 63),
    channels: { train: `s3://${bucket}/splits/${model}/v123456/train/`, validation: `s3://${bucket}/splits/${model}/v123456/validation/` },
    testSplit: `s3://${bucket}/splits/${model}/v123456/test/`,
    hyperparameters: fileHyperparameters,
    trainingSlot: 'acquired',
    retryOf: execution,
  };
  const report: EvaluationReport = {
    candidate: {
      onnxUri: `s3://${bucket}/candidates/${model}/${execution}/model.onnx`,
      cardUri: `s3://${bucket}/candidates/${model}/${execution}/model-card.json`,
      sha256: 'e'.repeat(64),
      metrics: { accuracy: 0.1, macro_f1: 0.1, log_loss: 2.3, roc_auc: 0.5 },
      validationMetrics: { accuracy: 0.1, macro_f1: 0.1, log_loss: 2.3, roc_auc: 0.5 },
      // A training script may echo every hyperparameter of its job into the card.
      hyperparameters: merged,
    },
    champion: { version: 99999, metrics: { accuracy: 0.1, macro_f1: 0.1, log_loss: 2.3, roc_auc: 0.5 } },
    baseline: { accuracy: 0.001, macro_f1: 0.001, log_loss: 6.9 },
    decision: { better: true, reason: 'r'.repeat(400), metric: 'macro_f1' },
    details: { candidate: details, champion: details },
  };
  const evaluation = evaluationState(report, `s3://${bucket}/${s3Keys.candidateEvaluation(model, execution)}`);
  const answers: Record<string, { value: unknown; budget: number }> = {
    Ingest: { value: ingest, budget: STAGE_OUTPUT_BUDGET_BYTES },
    // 'Scan dataset in parts' of a file cut into the most parts there may be, each range at the widest offsets.
    'Ingest (PARTS)': {
      value: {
        status: 'PARTS',
        model,
        datasetVersion: null,
        plan: `s3://${bucket}/ingest-parts/${model}/${execution}/plan.json`,
        parts: Array.from({ length: 1000 }, (_, index) => ({ index, start: 999_999_999_999_999, end: 999_999_999_999_999 })),
      },
      budget: STAGE_OUTPUT_BUDGET_BYTES,
    },
    Evaluate: { value: evaluation, budget: EVALUATE_OUTPUT_BUDGET_BYTES },
  };

  it('would not fit with the details inline: the report itself is far over the limit', () => {
    expect(jsonBytes(report)).toBeGreaterThan(4 * STATE_PAYLOAD_LIMIT_BYTES);
    expect(details.confusionMatrix).toHaveLength(CLASSES);
  });

  it.each(Object.keys(answers))('%s answers within its share of the state', (stage) => {
    const { value, budget } = answers[stage];
    expect(assertStatePayload(value, stage, budget)).toBe(value);
  });

  it("the whole execution state at Register, and Register's own input, stay under 256 KiB", () => {
    const state = {
      version: '0',
      id: 'e'.repeat(36),
      'detail-type': 'Object Created',
      source: 'aws.s3',
      time: '2026-01-01T00:00:00Z',
      detail: {
        bucket: { name: bucket },
        object: { key: `datasets/${model}/${'k'.repeat(900)}.csv`, size: 1e15, 'version-id': 'x'.repeat(32), etag: 'f'.repeat(32) },
      },
      ingest,
      partsScan: { hash: { sha256: 'f'.repeat(64), bytes: 1e15 } },
      splitCounts: Array.from({ length: 1000 }, () => ({ train: 999_999_999, validation: 999_999_999, test: 999_999_999 })),
      hyperparameterDefaults: {
        sagemaker_program: 'train.py',
        sagemaker_submit_directory: `s3://cdk-hnb659fds-assets-123456789012-eu-west-1/${'a'.repeat(64)}.tar.gz`,
        sagemaker_region: 'eu-west-1',
        ...stackHyperparameters,
        target: ingest.target,
        task: ingest.task,
      },
      training: {
        trainingJobName: ingest.trainingJobName,
        modelArtifacts: `s3://${bucket}/training/${ingest.trainingJobName}/output/model.tar.gz`,
      },
      evaluation,
      registration: {
        model,
        modelVersion: 99999,
        datasetVersion: 123456,
        promoted: true,
        metrics: report.candidate.metrics,
        reason: 'r'.repeat(600),
      },
    };
    expect(Object.keys(state.hyperparameterDefaults).length + Object.keys(fileHyperparameters).length).toBe(100);
    const registerInput = { execution, promote: true, codeVersion: 'c'.repeat(64), ingest, training: state.training, evaluation };
    const sizes = { state: jsonBytes(state), registerInput: jsonBytes(registerInput) };
    expect(sizes.state).toBeLessThan(STATE_PAYLOAD_LIMIT_BYTES);
    expect(sizes.registerInput).toBeLessThan(STATE_PAYLOAD_LIMIT_BYTES);
  });
});
