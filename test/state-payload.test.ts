/**
 * Step Functions' 256 KiB per state: the check each stage runs on its answer, and the local
 * runtime's enforcement (local/payload-watch.ts) on a small state machine run by the same
 * interpreter as the pipeline: a task result, or a state merged by ResultPath, over the limit ends
 * the execution with States.DataLimitExceeded, and the Catch's failure path never runs.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { PayloadWatch, type TaskHandler } from '../local/payload-watch';
import {
  assertStatePayload,
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
