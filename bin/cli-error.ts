/** A failure the CLI reports as one line (and exit code 1), not as a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    /** What --json prints for it: a result document, or null for nothing (the command printed its own). */
    readonly result?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
