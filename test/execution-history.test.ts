/**
 * GetExecutionHistory as the local runtime serves it: the interpreter's events shaped as Step
 * Functions' history events, and the operation's paging and order. The history of a real run,
 * read by `mloop --stack ... run` for its progress lines, is in stack-cli.test.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExecutionHistories, historyEventOf, MAX_EVENTS, readHistoryFile } from '../local/execution-history';
import { STATES_OPERATIONS, type StepFunctionsBackend } from '../local/stepfunctions-api';
import { StatesApiError } from '../local/executions';

const ARN = 'arn:aws:states:us-east-1:000000000000:execution:Pipeline:churn-1';

/** A run's interpreter events: start, a Task, a Choice, and the end. */
function recorded(): ExecutionHistories {
  const h = new ExecutionHistories();
  const at = 1_700_000_000_000;
  h.record(ARN, { type: 'ExecutionStarted', timestamp: at, input: { detail: { key: 'k' } } });
  h.record(ARN, { type: 'StateEntered', timestamp: at + 1, state: { name: 'Ingest dataset', type: 'Task' } });
  h.record(ARN, { type: 'StateRetried', timestamp: at + 2, state: { name: 'Ingest dataset', type: 'Task' } });
  h.record(ARN, { type: 'StateExited', timestamp: at + 3, state: { name: 'Ingest dataset', type: 'Task' } });
  h.record(ARN, { type: 'StateEntered', timestamp: at + 4, state: { name: 'New dataset?', type: 'Choice' } });
  h.record(ARN, { type: 'ExecutionFailed', timestamp: at + 5, Error: 'States.TaskFailed', Cause: 'boom' });
  return h;
}

function api(histories: ExecutionHistories) {
  const backend = { executionHistory: (arn: string) => histories.events(arn) } as unknown as StepFunctionsBackend;
  return (body: Record<string, unknown>) => STATES_OPERATIONS.GetExecutionHistory(backend, body);
}

describe('the history of an execution', () => {
  it('has the API event types, ids and details; retries are left out', () => {
    const events = recorded().events(ARN)!;
    expect(events.map((e) => [e.id, e.previousEventId, e.type])).toEqual([
      [1, 0, 'ExecutionStarted'],
      [2, 1, 'TaskStateEntered'],
      [3, 2, 'TaskStateExited'],
      [4, 3, 'ChoiceStateEntered'],
      [5, 4, 'ExecutionFailed'],
    ]);
    expect(events[0].executionStartedEventDetails).toEqual({ input: '{"detail":{"key":"k"}}' });
    expect(events[1].stateEnteredEventDetails).toEqual({ name: 'Ingest dataset' });
    expect(events[4].executionFailedEventDetails).toEqual({ error: 'States.TaskFailed', cause: 'boom' });
    expect(historyEventOf({ type: 'ParallelBranchStarted' })).toBeUndefined();
  });

  it('keeps at most Step Functions limit of events', () => {
    const h = new ExecutionHistories();
    for (let i = 0; i < MAX_EVENTS + 10; i++) h.record(ARN, { type: 'StateEntered', state: { name: `s${i}`, type: 'Pass' } });
    expect(h.events(ARN)).toHaveLength(MAX_EVENTS);
  });
});

describe('a history kept in a file', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-history-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fileOf = () => (arn: string) => path.join(dir, 'Pipeline', `${arn.split(':').pop()}.history.jsonl`);

  it('is read by another process (another instance) as the one that ran it recorded it', () => {
    const ran = new ExecutionHistories(fileOf());
    ran.record(ARN, { type: 'ExecutionStarted', timestamp: 1, input: {} });
    ran.record(ARN, { type: 'StateEntered', timestamp: 2, state: { name: 'Ingest dataset', type: 'Task' } });
    const later = new ExecutionHistories(fileOf());
    expect(later.events(ARN)).toEqual(ran.events(ARN));
    expect(later.events(`${ARN}-other`)).toBeUndefined();
  });

  it('skips a last line torn by a killed process, and an execution recovered later goes on numbering after the events before it', () => {
    const first = new ExecutionHistories(fileOf());
    first.record(ARN, { type: 'ExecutionStarted', timestamp: 1, input: {} });
    first.record(ARN, { type: 'StateEntered', timestamp: 2, state: { name: 'Ingest dataset', type: 'Task' } });
    fs.appendFileSync(fileOf()(ARN), '{"id":3,"previousEventId":2,"timest');
    expect(readHistoryFile(fileOf()(ARN))!.map((e) => e.id)).toEqual([1, 2]);
    const recovering = new ExecutionHistories(fileOf());
    recovering.record(ARN, { type: 'ExecutionStarted', timestamp: 3, input: {} });
    const expected = [
      [1, 'ExecutionStarted'],
      [2, 'TaskStateEntered'],
      [3, 'ExecutionStarted'],
    ];
    expect(recovering.events(ARN)!.map((e) => [e.id, e.type])).toEqual(expected);
    // The torn tail went before the new event was appended: a later reader sees all three.
    expect(new ExecutionHistories(fileOf()).events(ARN)!.map((e) => [e.id, e.type])).toEqual(expected);
  });
});

describe('GetExecutionHistory', () => {
  it('answers oldest first, in pages, with timestamps in epoch seconds', () => {
    const call = api(recorded());
    const first = call({ executionArn: ARN, maxResults: 2 }) as { events: { id: number; timestamp: number }[]; nextToken: string };
    expect(first.events.map((e) => e.id)).toEqual([1, 2]);
    expect(first.events[0].timestamp).toBe(1_700_000_000);
    const second = call({ executionArn: ARN, maxResults: 2, nextToken: first.nextToken }) as {
      events: { id: number }[];
      nextToken: string;
    };
    expect(second.events.map((e) => e.id)).toEqual([3, 4]);
    const last = call({ executionArn: ARN, maxResults: 2, nextToken: second.nextToken }) as {
      events: { id: number }[];
      nextToken?: string;
    };
    expect(last.events.map((e) => e.id)).toEqual([5]);
    expect(last.nextToken).toBeUndefined();
  });

  it('answers newest first with reverseOrder', () => {
    const answer = api(recorded())({ executionArn: ARN, reverseOrder: true }) as { events: { type: string }[] };
    expect(answer.events.map((e) => e.type)).toEqual([
      'ExecutionFailed',
      'ChoiceStateEntered',
      'TaskStateExited',
      'TaskStateEntered',
      'ExecutionStarted',
    ]);
  });

  it('refuses an unknown execution, a bad page size and a foreign token as Step Functions does', () => {
    const call = api(recorded());
    const refusal = (body: Record<string, unknown>) => {
      try {
        call(body);
      } catch (error) {
        return error instanceof StatesApiError ? [error.type, error.message] : ['not a StatesApiError', String(error)];
      }
      return ['no error', ''];
    };
    expect(refusal({ executionArn: `${ARN}-other` })).toEqual(['ExecutionDoesNotExist', `Execution Does Not Exist: '${ARN}-other'`]);
    expect(refusal({ executionArn: ARN, maxResults: 1001 })[0]).toBe('ValidationException');
    expect(refusal({ executionArn: ARN, nextToken: 'bm9wZQ' })[0]).toBe('InvalidToken');
  });
});
