/**
 * Training progress on a terminal: while a local training job runs, one line on stderr redrawn in
 * place, `training <job>  epoch 12/200 [#####.....]  train_loss 0.41  validation_loss 0.39`,
 * instead of one log line per epoch. Every other line (the script's other output, the pipeline's
 * stages) is printed above it as usual, and when the job ends its last epoch stays as one line.
 *
 * Only on a TTY: `TrainingProgress.create` answers undefined for a pipe or a file, and the caller
 * then streams every line to its log as before (CI logs, `2> file`, tests).
 *
 * It reads train.py's log format (`max_epochs=N` in its dataset line, then
 * `epoch=K train_loss=X validation_loss=Y`); a user's script that prints epoch lines the same way
 * gets the same display, and one that does not simply has its lines logged.
 */

/** The part of a tty.WriteStream the display needs. */
export interface Terminal {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

const EPOCH = /^epoch=(\d+) train_loss=(\S+) validation_loss=(\S+)/;
const MAX_EPOCHS = /\bmax_epochs=(\d+)\b/;
const BAR = 20;
/** Erase the current line and return to its start. */
const CLEAR = '\r\x1b[K';

interface JobState {
  epoch: number;
  maxEpochs?: number;
  trainLoss?: string;
  validationLoss?: string;
}

export class TrainingProgress {
  private readonly jobs = new Map<string, JobState>();
  /** The job whose line is on screen (the last one to report), and whether a line is drawn. */
  private current?: string;
  private drawn = false;

  private constructor(
    private readonly terminal: Terminal,
    private readonly print: (line: string) => void,
  ) {}

  /** A display on `terminal` when it is a TTY, else undefined. `print` writes a whole log line (to the same terminal). */
  static create(terminal: Terminal | undefined, print: (line: string) => void): TrainingProgress | undefined {
    return terminal?.isTTY ? new TrainingProgress(terminal, print) : undefined;
  }

  /** A log line that is not training output: printed above the progress line. */
  log(line: string): void {
    this.clear();
    this.print(line);
    this.draw();
  }

  /** A job starts: `maxEpochs` when the request says (its `epochs` hyperparameter). */
  start(job: string, maxEpochs?: number): void {
    this.jobs.set(job, { epoch: 0, maxEpochs });
  }

  /** A line of a job's training output: epoch lines move its progress, the rest is logged. */
  output(job: string, line: string): void {
    const state = this.jobs.get(job) ?? { epoch: 0 };
    this.jobs.set(job, state);
    const max = MAX_EPOCHS.exec(line);
    if (max) state.maxEpochs = Number(max[1]);
    const epoch = EPOCH.exec(line);
    if (!epoch) {
      this.log(`  ${line}`);
      return;
    }
    state.epoch = Number(epoch[1]);
    state.trainLoss = epoch[2];
    state.validationLoss = epoch[3];
    this.current = job;
    this.clear();
    this.draw();
  }

  /** The job ended: its last state stays on screen as a plain line. */
  end(job: string): void {
    const state = this.jobs.get(job);
    this.jobs.delete(job);
    this.clear();
    if (state && state.epoch > 0) this.print(`  ${this.describe(job, state, false)}`);
    if (this.current === job) this.current = [...this.jobs.keys()].pop();
    this.draw();
  }

  private describe(job: string, state: JobState, bar: boolean): string {
    const of = state.maxEpochs ? `/${state.maxEpochs}` : '';
    let meter = '';
    if (bar && state.maxEpochs) {
      const filled = Math.min(BAR, Math.round((state.epoch / state.maxEpochs) * BAR));
      meter = ` [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]`;
    }
    return `training ${job}  epoch ${state.epoch}${of}${meter}  train_loss ${state.trainLoss}  validation_loss ${state.validationLoss}`;
  }

  private draw(): void {
    const job = this.current;
    const state = job ? this.jobs.get(job) : undefined;
    if (!job || !state || state.epoch === 0) return;
    const width = Math.max(20, (this.terminal.columns || 100) - 1); // a pty may report 0 columns
    this.terminal.write(`  ${this.describe(job, state, true)}`.slice(0, width));
    this.drawn = true;
  }

  private clear(): void {
    if (!this.drawn) return;
    this.terminal.write(CLEAR);
    this.drawn = false;
  }
}
