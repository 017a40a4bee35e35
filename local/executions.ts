/**
 * Execution names, kept as Step Functions keeps them: unique per state machine, for good. (AWS
 * frees a closed execution's name after 90 days; a local home keeps it.) The pipeline's starter
 * relies on it: a repeated S3 event names the same execution, and the second StartExecution must
 * answer ExecutionAlreadyExists, whichever process on the home starts it, and after a restart.
 *
 * One file per execution, `<home>/executions/<state machine name>/<execution name>.json`, made by
 * an exclusive create: the record is written to a temporary file and hard-linked to its name,
 * which fails if the name exists, so two processes cannot both take a name and nobody ever reads
 * half a record. The end of an execution is written over it (write, then rename).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { executionArnOf } from '../lambdas/pipeline/start';

/** An error Step Functions' API answers with (HTTP 400, `__type` = `type`). */
export class StatesApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  /** The input, as JSON text. */
  readonly input: string;
  readonly startDate: string;
  /** The process that runs it (local executions live in the process that started them). */
  readonly pid: number;
  /** That process's start time (Linux: /proc/<pid>/stat), so a reused pid is not taken for it. */
  readonly pidStartTime?: string;
  /** Set when the execution ends; absent while it runs. ABORTED: its process died (see `orphans`). */
  readonly status?: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly stopDate?: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

/** An execution as DescribeExecution reports it. */
export type ExecutionDescription = Omit<ExecutionRecord, 'status'> & { readonly status: ExecutionStatus };

/** How an execution ended. */
export interface ExecutionEnd {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

/**
 * Step Functions' rule for names: 1 to 80 characters, no whitespace, brackets, wildcards,
 * special characters (" # % \ ^ | ~ ` $ & , ; : /) or control characters. It also keeps the
 * name a plain file name here (no path separator).
 */
const VALID_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

/** Whether a process of this machine still runs (a signal 0 reaches it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When a process started, as the kernel counts it (clock ticks since boot, /proc/<pid>/stat's
 * 22nd field), or undefined where /proc is not there. With the pid, it names one process for good:
 * a pid reused by a later process has another start time.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that recorded (`pid`, `startTime`) still runs: alive, and not a reused pid. */
export function sameProcessAlive(pid: number, startTime: string | undefined): boolean {
  if (!alive(pid)) return false;
  if (startTime === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}

/** A record file that cannot be read as one: named, with what to do about it. */
export class CorruptRecord extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `${file} is not a readable execution record (${detail}): it was written by mloop as one JSON object. Restore it from a backup, or move it out of ${path.dirname(file)} to let mloop go on without that execution.`,
    );
    this.name = 'CorruptRecord';
  }
}

function readRecord(file: string): ExecutionRecord {
  const text = fs.readFileSync(file, 'utf8');
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new CorruptRecord(file, text.length === 0 ? 'it is empty' : (error as Error).message);
  }
  const r = record as Partial<ExecutionRecord> | null;
  if (
    !r ||
    typeof r !== 'object' ||
    typeof r.executionArn !== 'string' ||
    typeof r.name !== 'string' ||
    typeof r.pid !== 'number' ||
    typeof r.input !== 'string'
  ) {
    throw new CorruptRecord(file, 'it lacks executionArn, name, pid or input');
  }
  return r as ExecutionRecord;
}

/** ListExecutions' order: the newest start first (then by name, so that pages are stable). */
export function newestFirst(a: { startDate: string; name: string }, b: { startDate: string; name: string }): number {
  return b.startDate.localeCompare(a.startDate) || b.name.localeCompare(a.name);
}

export class ExecutionLedger {
  /** The executions this process started and has not seen end, by ARN. */
  private readonly running = new Map<string, ExecutionRecord>();

  constructor(private readonly dir: string) {}

  /** The record's file; the ARN's parts become path segments, so they must be plain names. */
  private file(arn: string): string {
    const match = /^arn:[^:]+:states:[^:]*:[^:]*:execution:([A-Za-z0-9_.-]+):([^:/\\]+)$/.exec(arn);
    if (!match || match[1].startsWith('.')) throw new StatesApiError('InvalidArn', `Invalid Arn: '${arn}' is not an execution ARN.`);
    return path.join(this.dir, match[1], `${match[2]}.json`);
  }

  /** Where the execution's history is kept (local/execution-history.ts), beside its record. */
  historyFile(arn: string): string {
    return this.file(arn).replace(/\.json$/, '.history.jsonl');
  }

  /**
   * Take `name` for a new execution of `stateMachineArn` and record it, or answer the running
   * execution that this process started with the same name and the same input (Standard
   * workflows' idempotent StartExecution: `repeat`). A name taken otherwise (an execution that
   * ended, another input, another process, an earlier run on this home) is ExecutionAlreadyExists.
   */
  claim(stateMachineArn: string, name: string, input: string): { record: ExecutionRecord; repeat: boolean } {
    if (!VALID_NAME.test(name)) {
      throw new StatesApiError(
        'InvalidName',
        `Invalid Name: '${name}' (1 to 80 characters, without whitespace, brackets, wildcards or " # % \\ ^ | ~ \` $ & , ; : /).`,
      );
    }
    const arn = executionArnOf(stateMachineArn, name);
    const mine = this.running.get(arn);
    if (mine && mine.input === input) return { record: mine, repeat: true };
    const pidStartTime = processStartTime(process.pid);
    const record: ExecutionRecord = {
      executionArn: arn,
      stateMachineArn,
      name,
      input,
      startDate: new Date().toISOString(),
      pid: process.pid,
      ...(pidStartTime ? { pidStartTime } : {}),
    };
    const file = this.file(arn);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const pending = `${file}.${randomUUID()}.tmp`;
    fs.writeFileSync(pending, JSON.stringify(record));
    try {
      fs.linkSync(pending, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST')
        throw new StatesApiError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
      throw error;
    } finally {
      fs.rmSync(pending, { force: true });
    }
    this.running.set(arn, record);
    return { record, repeat: false };
  }

  /** Record how an execution this process started ended. */
  finish(arn: string, end: ExecutionEnd): void {
    const started = this.running.get(arn);
    if (!started) throw new Error(`Execution ${arn} was not started by this process.`);
    const record: ExecutionRecord = {
      ...started,
      status: end.status,
      stopDate: new Date().toISOString(),
      ...(end.output !== undefined ? { output: JSON.stringify(end.output) } : {}),
      ...(end.error !== undefined ? { error: end.error } : {}),
      ...(end.cause !== undefined ? { cause: end.cause } : {}),
    };
    this.write(record);
    this.running.delete(arn);
  }

  /** Write a record over its file, whole or not at all (write, then rename). */
  private write(record: ExecutionRecord): void {
    const file = this.file(record.executionArn);
    const pending = `${file}.${randomUUID()}.tmp`;
    fs.writeFileSync(pending, JSON.stringify(record));
    fs.renameSync(pending, file);
  }

  /**
   * The executions that another process started on this home and that never recorded an end,
   * whose process is gone: a process that runs executions owns the home, so when this process
   * owns it, those were cut off (kill -9, a crash, a power cut). Oldest first.
   */
  orphans(): ExecutionRecord[] {
    if (!fs.existsSync(this.dir)) return [];
    const found: ExecutionRecord[] = [];
    const myStart = processStartTime(process.pid);
    for (const machine of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!machine.isDirectory()) continue;
      const folder = path.join(this.dir, machine.name);
      for (const entry of fs.readdirSync(folder)) {
        if (!entry.endsWith('.json')) continue; // .tmp files of a write that was cut off
        const record = readRecord(path.join(folder, entry));
        if (record.status || this.running.has(record.executionArn)) continue;
        if (record.pid === process.pid && record.pidStartTime === myStart) continue; // another cloud of this process
        if (!sameProcessAlive(record.pid, record.pidStartTime)) found.push(record);
      }
    }
    return found.sort((a, b) => a.startDate.localeCompare(b.startDate));
  }

  /** Record that an orphaned execution ended ABORTED (see `orphans`). */
  abort(record: ExecutionRecord, cause: string): void {
    this.write({ ...record, status: 'ABORTED', stopDate: new Date().toISOString(), error: 'States.Aborted', cause });
  }

  /** Every execution of `stateMachineArn`, from any process on the home, newest first (ListExecutions). */
  list(stateMachineArn: string): ExecutionDescription[] {
    const folder = path.dirname(this.file(executionArnOf(stateMachineArn, 'any')));
    if (!fs.existsSync(folder)) return [];
    const found: ExecutionDescription[] = [];
    for (const entry of fs.readdirSync(folder)) {
      if (!entry.endsWith('.json')) continue; // .tmp files of a write that was cut off
      const execution = this.describe(executionArnOf(stateMachineArn, entry.slice(0, -'.json'.length)));
      if (execution) found.push(execution);
    }
    return found.sort(newestFirst);
  }

  /**
   * An execution and its status, from any process on the home, or undefined when there is none.
   * One that never recorded an end and whose process is gone was cut off: ABORTED.
   */
  describe(arn: string): ExecutionDescription | undefined {
    const mine = this.running.get(arn);
    if (mine) return { ...mine, status: 'RUNNING' };
    let record: ExecutionRecord;
    try {
      record = readRecord(this.file(arn));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (record.status) return { ...record, status: record.status };
    return { ...record, status: record.pid !== process.pid && sameProcessAlive(record.pid, record.pidStartTime) ? 'RUNNING' : 'ABORTED' };
  }
}
