/**
 * Data capture in batches: captured lines are buffered in the container and written as one
 * JSON Lines object per model and flush, not one S3 write per request. A flush happens when the
 * buffer holds `maxRecords` lines or its oldest line is `maxAgeMs` old:
 *
 * - in a long-running process (`mloop serve`, the local runtime) a timer writes the buffer in the
 *   background when it comes of age, and a full buffer is written at once, also in the
 *   background: no request waits for S3;
 * - on Lambda the process is frozen between invocations, so timers and background writes cannot
 *   be relied on: the handler calls `settle()` at the end of each invocation, which writes the
 *   buffer when it is due (full or old) and waits for the write. Only those invocations wait for
 *   S3; the others return at once. Lines still buffered when Lambda retires an idle container are
 *   lost: capture is best effort by design (it never fails or holds up a prediction).
 *
 * Objects are named by their flush time (s3Keys.capture), so keys stay time-ordered by when they
 * were written and the drift monitor's watermark never skips an object written late; each line
 * keeps the time of its own request (`at`).
 */
import { randomBytes } from 'node:crypto';
import { s3Keys } from '../shared/layout';
import { logger } from '../shared/observability';
import { putBytes } from '../shared/storage';

export interface CaptureBufferOptions {
  /** The data bucket. */
  readonly bucket: string;
  /** Lines buffered (all models together) before a flush. */
  readonly maxRecords: number;
  /** Age of the oldest buffered line that makes a flush due. */
  readonly maxAgeMs: number;
  /** Write the buffer on a timer when it comes of age (long-running processes). @default true */
  readonly timers?: boolean;
  /** Where objects go. @default a PutObject to `bucket` */
  readonly write?: (key: string, body: string) => Promise<void>;
  readonly now?: () => number;
}

export interface FlushStats {
  /** Objects written since the buffer was created. */
  readonly objects: number;
  /** Lines written. */
  readonly lines: number;
  /** Lines dropped because their write failed. */
  readonly dropped: number;
}

export class CaptureBuffer {
  private pending = new Map<string, string[]>();
  private count = 0;
  private oldest: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Distinguishes this container's objects from another's written in the same millisecond. */
  private readonly instance = randomBytes(6).toString('hex');
  private sequence = 0;
  private stats = { objects: 0, lines: 0, dropped: 0 };
  private readonly now: () => number;
  private readonly write: (key: string, body: string) => Promise<void>;

  constructor(private readonly options: CaptureBufferOptions) {
    this.now = options.now ?? Date.now;
    this.write = options.write ?? ((key, body) => putBytes(options.bucket, key, body, 'application/x-ndjson'));
  }

  /** Lines buffered and not yet handed to a write. */
  get buffered(): number {
    return this.count;
  }

  get written(): FlushStats {
    return { ...this.stats };
  }

  /** Whether the buffer should be written now: it is full, or its oldest line is old enough. */
  get due(): boolean {
    return this.count >= this.options.maxRecords || (this.oldest !== undefined && this.now() - this.oldest >= this.options.maxAgeMs);
  }

  /** Buffer one request's lines (one per instance). Never throws and never waits. */
  add(model: string, lines: string[]): void {
    if (lines.length === 0) return;
    let list = this.pending.get(model);
    if (!list) this.pending.set(model, (list = []));
    list.push(...lines);
    this.count += lines.length;
    this.oldest ??= this.now();
    if (this.count >= this.options.maxRecords) {
      void this.flush();
    } else if (this.options.timers !== false && !this.timer) {
      this.timer = setTimeout(() => void this.flush(), Math.max(0, this.options.maxAgeMs));
      this.timer.unref();
    }
  }

  /**
   * The end of a Lambda invocation: write the buffer if it is due, and wait for every write
   * already started, so that none is frozen half-way.
   */
  async settle(): Promise<void> {
    if (this.due) void this.flush();
    if (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Write everything buffered, one object per model; resolves when every write has ended. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batches = this.pending;
    this.pending = new Map();
    this.count = 0;
    this.oldest = undefined;
    for (const [model, lines] of batches) {
      const key = s3Keys.capture(model, new Date(this.now()), `${this.instance}-${String(this.sequence++).padStart(6, '0')}`);
      const write = this.write(key, lines.join('\n') + '\n').then(
        () => {
          this.stats.objects += 1;
          this.stats.lines += lines.length;
        },
        (error: unknown) => {
          // Capture never fails a prediction: the lines are dropped, and the loss is logged.
          this.stats.dropped += lines.length;
          logger.error('Data capture write failed; its lines are dropped', { model, key, lines: lines.length, error: error as Error });
        },
      );
      this.inFlight.add(write);
      void write.finally(() => this.inFlight.delete(write));
    }
    await Promise.all([...this.inFlight]);
  }
}
