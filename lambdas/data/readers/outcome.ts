/** What reading a file found besides its table, whatever the format, and the violations every reader reports. */
import type { DataFormat } from '../formats';
import type { Violation } from '../scan-types';

/** What reading a file found besides its table. */
export interface ReadOutcome {
  /** Problems of the file as a whole, in order: encoding, parse errors, corrupt streams, bad lines. */
  readonly violations: Violation[];
  /** Whether every record was read: false after a parse error or a corrupt stream. */
  readonly complete: boolean;
}

export function corrupt(file: string, what: string, reason: string, expected: string): Violation {
  return { check: 'corrupt_file', count: 1, exampleRows: [], message: `${file} ${what} (${reason}); expected ${expected}.` };
}

export function encodingViolation(file: string, invalidAt: number, line: number, gzip: boolean): Violation {
  const where = gzip ? `byte offset ${invalidAt} of the decompressed data` : `byte offset ${invalidAt}`;
  return {
    check: 'encoding',
    count: 1,
    exampleRows: [line],
    message: `${file} is not valid UTF-8: the byte sequence at ${where} (line ${line}) is invalid; expected UTF-8 text (save the file as UTF-8).`,
  };
}

/** Decompressed text goes to a sink that parses it. */
export interface TextSink {
  push(buf: Buffer): Promise<void>;
  /** The end of the text (not called when the text was cut short by a corrupt gzip stream). */
  end(): Promise<void>;
  destroy(): void;
  outcome(gzip: boolean): ReadOutcome;
}

/** The format and compression a file is read as. */
export interface Detected {
  readonly format: DataFormat;
  readonly gzip: boolean;
}
