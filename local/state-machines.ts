/**
 * The template's state machines, run locally by aws-local-stepfunctions: each Task state's resource
 * gets a local handler (a Lambda function of the template, the SageMaker training job in script
 * mode, a `.waitForTaskToken` Lambda invoke that waits for its token's result), executions are
 * named and recorded as Step Functions names them (local/executions.ts), each end is published as
 * Step Functions' "Execution Status Change" event, and executions that a process which is gone left
 * running are recovered (ended ABORTED, their cleanup run).
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { executionArnOf } from '../lambdas/pipeline/start';
import type { Delivery } from './event-bus';
import { executionStatusEvent, type EventBridgeEvent } from './events';
import { CorruptRecord, ExecutionLedger, type ExecutionDescription, type ExecutionRecord } from './executions';
import type { FaultHolds } from './faults';
import type { LocalFunctions } from './functions';
import { ExecutionHistories, type HistoryEvent, type InterpreterEvent } from './execution-history';
import { PayloadWatch } from './payload-watch';
import type { TrainingProgress } from './progress';
import { localTaskToken, taskTokensDir, waitForTaskResult, WAIT_FOR_TASK_TOKEN } from './task-tokens';
import type { LocalTemplate } from './template-types';
import { runTrainingJob, type CreateTrainingJobRequest } from './trainer';

const SAGEMAKER_SYNC = /^arn:aws[a-z-]*:states:::sagemaker:createTrainingJob\.sync$/;

export interface ExecutionResult {
  readonly execution: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Record<string, unknown>;
  readonly error?: string;
  readonly cause?: string;
}

/** A scope of states: the machine, a Parallel state's branch, a Map state's item processor. */
interface StatesScope {
  States: Record<
    string,
    { Type: string; Resource?: string; Branches?: StatesScope[]; ItemProcessor?: StatesScope; Iterator?: StatesScope }
  >;
}

/**
 * Every state of a definition with its name, those inside Parallel and Map states too (the
 * interpreter finds a local handler by state name in nested scopes as well; CDK keeps names unique).
 */
function allStates(scope: StatesScope): [string, StatesScope['States'][string]][] {
  return Object.entries(scope.States).flatMap(([name, state]) => [
    [name, state] as [string, StatesScope['States'][string]],
    ...(state.Branches ?? []).flatMap(allStates),
    ...((state.ItemProcessor ?? state.Iterator) ? allStates((state.ItemProcessor ?? state.Iterator) as StatesScope) : []),
  ]);
}

/** A Choice state's rules: the variable each tests and the state it leads to. */
interface ChoiceRule {
  Variable?: string;
  Next?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
  Not?: ChoiceRule;
}

/** The output field the ingest function answers its model's training slot in (`busy` or `acquired`). */
const TRAINING_SLOT_FIELD = 'trainingSlot';
/** How long the training-slot wait lasts locally: another run's training is seconds long here. */
const LOCAL_SLOT_WAIT_MS = 200;

/**
 * The Wait states a Choice on the ingest output's training slot leads to: the pipeline's loop that
 * tries its model's training slot again after a while (60 s on AWS). Found by what the Choice
 * tests, not by the state's name, so that a renamed state is still shortened.
 */
function trainingSlotWaits(definition: StatesScope): string[] {
  const states = Object.fromEntries(allStates(definition));
  const tests = (rule: ChoiceRule): boolean =>
    (rule.Variable ?? '').split('.').pop() === TRAINING_SLOT_FIELD ||
    [...(rule.And ?? []), ...(rule.Or ?? [])].some(tests) ||
    (rule.Not ? tests(rule.Not) : false);
  const waits = new Set<string>();
  for (const state of Object.values(states)) {
    if (state.Type !== 'Choice') continue;
    for (const rule of (state as { Choices?: ChoiceRule[] }).Choices ?? []) {
      if (rule.Next && tests(rule) && states[rule.Next]?.Type === 'Wait') waits.add(rule.Next);
    }
  }
  return [...waits];
}

/** Lambda's answer when a function throws: the Cause a Catch receives on AWS is this JSON. */
class LambdaFunctionError extends Error {
  constructor(name: string, message: string) {
    super(JSON.stringify({ errorType: name, errorMessage: message }));
    this.name = name;
  }
}

/** What the state machines run on. */
export interface StateMachinesContext {
  readonly home: string;
  readonly template: LocalTemplate;
  readonly functions: LocalFunctions;
  /** Put an event on the local bus (executions' ends). */
  readonly publish: (event: EventBridgeEvent) => Promise<Delivery[]>;
  /** A progress line (stage transitions). */
  readonly say: (line: string) => void;
  /** A raw log line (training output when there is no progress display). */
  readonly log: (line: string) => void;
  /** The training progress display, when there is one. */
  readonly progress: () => TrainingProgress | undefined;
  /** Fault points (MLOOP_FAULT_HOLD), for recovery tests. */
  readonly faults: () => FaultHolds;
}

export class LocalStateMachines {
  private readonly running = new Map<string, Promise<ExecutionResult>>();
  /** The executions' histories (GetExecutionHistory), kept beside their records for later processes. */
  private readonly histories = new ExecutionHistories((arn) => this.ledger.historyFile(arn));
  /** Names of executions, unique per state machine across the processes on this home. */
  private executionLedger?: ExecutionLedger;
  /** The training-slot Wait state of each state machine (by ARN), named in what the runtime says. */
  private readonly slotWaits = new Map<string, string[]>();
  /** Executions that waited for their model's training slot, and said so once. */
  private readonly waitingSaid = new Set<string>();

  constructor(private readonly context: StateMachinesContext) {}

  private get ledger(): ExecutionLedger {
    this.executionLedger ??= new ExecutionLedger(path.join(this.context.home, 'executions'));
    return this.executionLedger;
  }

  has(stateMachineArn: string): boolean {
    return this.context.template.stateMachines.some((m) => m.arn === stateMachineArn);
  }

  /** The training-slot Wait states of a machine (see trainingSlotWaits). */
  private slotWaitsOf(machine: { arn: string; definition: Record<string, unknown> }): string[] {
    let waits = this.slotWaits.get(machine.arn);
    if (!waits) {
      waits = trainingSlotWaits(machine.definition as unknown as StatesScope);
      this.slotWaits.set(machine.arn, waits);
    }
    return waits;
  }

  /** The local handler of every Task state of a machine, by state name (see the file comment). */
  private taskHandlers(definition: StatesScope, name: string, slotWait: string): Record<string, (input: unknown) => Promise<unknown>> {
    const { functions, say, log, faults, home } = this.context;
    const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, state] of allStates(definition)) {
      if (state.Type !== 'Task' || !state.Resource) continue;
      const resource = state.Resource;
      const fn = functions.byArn(resource);
      if (fn) {
        overrides[stateName] = async (taskInput) => {
          // While the run waits for its model's training slot, Ingest runs again and again: say so once.
          if (!this.waitingSaid.has(name)) say(`[${stateName}]`);
          await faults().beforeState(stateName);
          let output: unknown;
          try {
            output = await functions.invoke(fn, taskInput);
          } catch (error) {
            const e = error as Error;
            throw new LambdaFunctionError(e.name || 'Error', e.message);
          }
          this.reportTrainingSlot(name, output, slotWait);
          return output;
        };
      } else if (SAGEMAKER_SYNC.test(resource)) {
        overrides[stateName] = async (taskInput) => {
          const request = taskInput as CreateTrainingJobRequest;
          const job = request.TrainingJobName;
          const progress = this.context.progress();
          say(`[${stateName}] training locally on the CPU`);
          await faults().beforeState(stateName);
          progress?.start(job, Number(request.HyperParameters?.epochs) || undefined);
          try {
            return await runTrainingJob(request, {
              workDir: path.join(home, 'training'),
              onLog: (line) => (progress ? progress.output(job, line) : log(`  ${line}`)),
            });
          } finally {
            progress?.end(job);
          }
        };
      } else if (WAIT_FOR_TASK_TOKEN.test(resource)) {
        const target = functions.byArn((state as { Parameters?: { FunctionName?: string } }).Parameters?.FunctionName);
        if (!target) throw new Error(`State '${stateName}' waits on a function the template does not define.`);
        overrides[stateName] = async (taskInput) => {
          log(`[${stateName}] waiting for its task token`);
          await functions.invoke(target, (taskInput as { Payload?: unknown }).Payload);
          return waitForTaskResult(taskTokensDir(home), localTaskToken(name));
        };
      } else {
        // A Task with no local handler would be sent to real AWS: refuse instead.
        throw new Error(`State '${stateName}' has resource ${resource}, which the local runtime cannot run.`);
      }
    }
    return overrides;
  }

  /** Start an execution (StartExecution); its name. */
  start(stateMachineArn: string, input: unknown, name: string = randomUUID()): string {
    const machine = this.context.template.stateMachines.find((m) => m.arn === stateMachineArn);
    if (!machine) throw new Error(`No state machine ${stateMachineArn} in the template.`);
    // Step Functions' 256 KiB per state, which the interpreter does not enforce (local/payload-watch.ts).
    const watch = new PayloadWatch();
    const overrides = watch.wrap(
      this.taskHandlers(machine.definition as unknown as StatesScope, name, this.slotWaitsOf(machine)[0] ?? 'Wait'),
    );

    // Names are unique per state machine, across the processes on this home, as on AWS: a name
    // taken before is ExecutionAlreadyExists; the same name and input as a running execution of
    // this process answer that execution again (Standard workflows' idempotent StartExecution).
    const claim = this.ledger.claim(machine.arn, name, JSON.stringify(input ?? {}));
    if (claim.repeat) return name;
    const sm = new StateMachine(machine.definition as never, { validationOptions: { checkArn: false } });
    const run = sm.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: overrides as never,
        // The training-slot wait lasts 60 s on AWS between two tries of the model's training
        // slot; locally another run's training is seconds long, so try again after 200 ms.
        waitTimeOverrides: Object.fromEntries(this.slotWaitsOf(machine).map((state) => [state, LOCAL_SLOT_WAIT_MS])),
      },
      context: {
        Execution: { Id: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`, Name: name },
        Task: { Token: localTaskToken(name) },
      },
    });
    const executionArn = executionArnOf(stateMachineArn, name);
    watch.follow(run, (event) => this.histories.record(executionArn, event as InterpreterEvent));
    const result = run.result
      .then(
        async (output): Promise<ExecutionResult> => {
          const overLimit = await watch.outcome(output);
          if (overLimit) return { execution: name, status: 'FAILED' as const, ...overLimit };
          return { execution: name, status: 'SUCCEEDED' as const, output: output as Record<string, unknown> };
        },
        async (error: Error & { cause?: unknown }): Promise<ExecutionResult> => {
          // A payload over the limit aborted the run: it failed with States.DataLimitExceeded.
          const overLimit = await watch.outcome();
          if (overLimit) return { execution: name, status: 'FAILED' as const, ...overLimit };
          // The library wraps the Fail state's error in an ExecutionError: report the real one,
          // as Step Functions reports the Fail state's Error and Cause.
          const failure = error.cause instanceof Error ? error.cause : error;
          return { execution: name, status: 'FAILED' as const, error: failure.name, cause: failure.message };
        },
      )
      .then(async (end: ExecutionResult) => {
        // Step Functions tells EventBridge how each execution ended; the rules on it run before
        // the end is reported here, as they would have run by the time one looks on AWS.
        await this.context.publish(
          executionStatusEvent(stateMachineArn, name, end.status, input, executionArnOf(stateMachineArn, name), {
            error: end.error,
            cause: end.cause,
          }),
        );
        return end;
      });
    this.running.set(name, result);
    void result
      .then((end) => this.ledger.finish(claim.record.executionArn, end))
      .catch((error: Error) => this.context.say(`Execution ${name} ended, but its end was not recorded: ${error.message}`));
    return name;
  }

  /**
   * Say once that a run waits for its model's training slot, naming the run that holds it and
   * since when, and once that it got it: Ingest answers `busy` on every pass of the wait loop.
   */
  private reportTrainingSlot(execution: string, output: unknown, waitState: string): void {
    const ingest = output as { status?: string; model?: string; trainingSlot?: string; heldBy?: string; heldSince?: string } | null;
    if (ingest?.status !== 'ACCEPTED') return;
    if (ingest.trainingSlot === 'busy' && !this.waitingSaid.has(execution)) {
      this.waitingSaid.add(execution);
      const since = ingest.heldSince ? ` since ${ingest.heldSince}` : '';
      this.context.say(
        `[${waitState}] ${ingest.model} trains one run at a time: execution ${ingest.heldBy ?? '(unknown)'} holds its training slot${since}; this run waits and tries again.`,
      );
    } else if (ingest.trainingSlot === 'acquired' && this.waitingSaid.delete(execution)) {
      this.context.say(`[${waitState}] ${ingest.model}'s training slot is free: this run trains now.`);
    }
  }

  /**
   * An execution's history: the events recorded while it ran (by this process or one before it on
   * this home), ended as its record says where the process that ran it died before writing its
   * end; or, for an execution with no history file (run by an mloop before histories were kept),
   * its start and its end from its record.
   */
  history(executionArn: string): readonly HistoryEvent[] | undefined {
    const recorded = this.histories.events(executionArn);
    if (recorded && recorded.length > 0) {
      if (END_EVENT_TYPES.has(recorded[recorded.length - 1].type)) return recorded;
      // Its end as its record has it (if it ended), when the process that ran it did not write it.
      const d = this.describe(executionArn);
      const end = d ? endEvent(d, recorded.length) : undefined;
      return end ? [...recorded, end] : recorded;
    }
    const d = this.describe(executionArn);
    if (!d) return undefined;
    const events: HistoryEvent[] = [
      {
        id: 1,
        previousEventId: 0,
        timestamp: Date.parse(d.startDate),
        type: 'ExecutionStarted',
        executionStartedEventDetails: { input: d.input },
      },
    ];
    const end = endEvent(d, 1);
    if (end) events.push(end);
    return events;
  }

  /** An execution of any process on this home, as DescribeExecution reports it. */
  describe(executionArn: string): ExecutionDescription | undefined {
    return this.ledger.describe(executionArn);
  }

  /** The executions of a state machine, from any process on the home, newest first. */
  list(stateMachineArn: string): ExecutionDescription[] {
    return this.ledger.list(stateMachineArn);
  }

  /** How an execution this process started ends. */
  execution(name: string): Promise<ExecutionResult> {
    const result = this.running.get(name);
    if (!result) throw new Error(`No execution named ${name} ran in this process.`);
    return result;
  }

  /** Wait for every execution started so far. */
  settle(): Promise<ExecutionResult[]> {
    return Promise.all(this.running.values());
  }

  /**
   * End the executions that a process which owned this home before left running: it died (kill
   * -9, a crash), so they will never end by themselves. Each is recorded ABORTED and its "Execution
   * Status Change" event is published, as Step Functions would publish it, so the rule on it runs
   * the same cleanup as on AWS (lambdas/pipeline/ended.ts): the training lease and the content
   * claims come back and the run is recorded, at once, without waiting for the lease's TTL.
   */
  async recover(): Promise<ExecutionRecord[]> {
    const { home, publish, say } = this.context;
    let orphans: ExecutionRecord[];
    try {
      orphans = this.ledger.orphans();
    } catch (error) {
      if (error instanceof CorruptRecord)
        throw new Error(`Cannot check ${home} for executions a stopped process left running: ${error.message}`);
      throw error;
    }
    for (const orphan of orphans) {
      const cause = `The process that ran it (pid ${orphan.pid}) ended before the execution did; the local runtime that took over ${home} stopped it.`;
      let input: unknown = {};
      try {
        input = JSON.parse(orphan.input);
      } catch {
        input = {}; // the cleanup then finds the model from the execution's name
      }
      // The cleanup first, then the record of the end: should the cleanup fail, the execution is
      // still an orphan for the next command, which runs the (idempotent) cleanup again.
      const deliveries = await publish(
        executionStatusEvent(orphan.stateMachineArn, orphan.name, 'ABORTED', input, orphan.executionArn, {
          error: 'States.Aborted',
          cause,
        }),
      );
      const failed = deliveries.find((d) => d.status === 'FAILED');
      if (failed?.status === 'FAILED')
        throw new Error(
          `Execution ${orphan.name}, left running by process ${orphan.pid} which is gone, could not be cleaned up (${failed.target}): ${failed.error}`,
        );
      this.ledger.abort(orphan, cause);
      say(
        `Recovered execution ${orphan.name}, left running since ${orphan.startDate} by process ${orphan.pid}, which is gone: ended as ABORTED; what it held is given back.`,
      );
    }
    return orphans;
  }
}

/** The history event that ends an execution, by the status it ended with. */
const END_EVENTS: Readonly<Record<string, string>> = {
  SUCCEEDED: 'ExecutionSucceeded',
  FAILED: 'ExecutionFailed',
  ABORTED: 'ExecutionAborted',
  TIMED_OUT: 'ExecutionTimedOut',
};
const END_EVENT_TYPES = new Set(Object.values(END_EVENTS));

/** An ended execution's last history event, from its record (after `previous` events), or undefined while it runs. */
function endEvent(d: ExecutionDescription, previous: number): HistoryEvent | undefined {
  const type = d.stopDate ? END_EVENTS[d.status] : undefined;
  return type ? { id: previous + 1, previousEventId: previous, timestamp: Date.parse(d.stopDate!), type } : undefined;
}
