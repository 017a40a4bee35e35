/**
 * What the CLI's commands run against: the loop's resources and the calls they make, whether the
 * stack is the local one (local/cloud.ts, in this process) or a deployed one found by name
 * (bin/stack/aws-target.ts, `mloop --stack NAME`). Commands are written once against this; only
 * how a call travels differs (an in-process handler call, or an AWS API request).
 */

/** How an execution ended, as the CLI reports it. */
export interface ExecutionEnd {
  readonly execution: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Record<string, unknown>;
  readonly error?: string;
  readonly cause?: string;
}

/** An API Gateway proxy answer: the status and the JSON body. */
export interface ApiAnswer {
  readonly statusCode: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string | number | boolean>>;
}

/** One event of an execution's history: a state entered or left, or how the execution started or ended. */
export interface ExecutionStep {
  /** Step Functions' event type: ExecutionStarted, TaskStateEntered, TaskStateExited, ExecutionFailed... */
  readonly type: string;
  /** ISO time of the event. */
  readonly at: string;
  /** The state's name, for a state's events. */
  readonly state?: string;
  readonly error?: string;
  readonly cause?: string;
}

/** The functions a command invokes by role. */
export type InvokedFunction = 'models' | 'drift';

export interface LoopTarget {
  /** Where the loop runs, for messages: a folder for the local stack, a name and region for a deployed one. */
  readonly where: string;
  /** The folder the CLI writes its own files into (drift HTML reports). */
  readonly home: string;
  readonly dataBucket: string;
  readonly registryTable: string;
  /** The training pipeline's state machine. */
  readonly pipelineStateMachineArn: string;
  /** Invoke one of the stack's functions with `event`; its answer, or its error thrown. */
  invoke(fn: InvokedFunction, event: unknown): Promise<unknown>;
  /** A request to the prediction API (`POST /v1/models/{name}/predict`), as API Gateway answers it. */
  predict(model: string, body: unknown, query: Record<string, string>): Promise<ApiAnswer>;
  /**
   * Put a dataset at `key` with S3 object metadata and resolve with the name of the execution the
   * drop starts (the pipeline's starter names it after the object version).
   */
  dropDataset(key: string, body: Buffer, metadata: Record<string, string>): Promise<string>;
  /** Start an execution of the pipeline with this name and input (a TrainRequest). */
  startPipeline(input: unknown, name: string): Promise<void>;
  /** Wait for an execution of the pipeline to end. */
  waitForExecution(name: string): Promise<ExecutionEnd>;
  /**
   * An execution of the pipeline's history, oldest first (GetExecutionHistory): what `mloop ui`
   * draws as a run's stage timeline. Empty when the execution is unknown.
   */
  executionHistory(name: string): Promise<ExecutionStep[]>;
  /**
   * Put a file to score at `key` (under batch/) with S3 object metadata and resolve with the name
   * of the batch execution the drop starts (named after the object version, as dataset drops are).
   */
  dropBatchFile(key: string, body: Buffer, metadata: Record<string, string>): Promise<string>;
  /** Wait for an execution of the batch state machine to end. */
  waitForBatch(name: string): Promise<ExecutionEnd>;
  /** Write what this process buffers for the stack (captured requests) before a command reads it. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}
