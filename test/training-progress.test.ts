/**
 * The local training progress display (local/progress.ts): on a TTY, epoch lines become one line
 * redrawn in place with the other lines printed above it; anywhere else there is no display and
 * the caller streams every line as before.
 */
import { TrainingProgress, type Terminal } from '../local/progress';

/** A terminal that records what was written and renders it as a screen would (\r, erase line). */
class FakeTerminal implements Terminal {
  readonly isTTY = true;
  readonly columns = 200;
  raw = '';
  write(text: string): boolean {
    this.raw += text;
    return true;
  }
  print = (line: string): void => {
    this.raw += `${line}\n`;
  };
  /** The lines on screen: each \r\x1b[K erases the line being written. */
  screen(): string[] {
    const lines: string[] = [''];
    for (const part of this.raw.split(/(\r\x1b\[K|\n)/)) {
      if (part === '\n') lines.push('');
      else if (part === '\r\x1b[K') lines[lines.length - 1] = '';
      else lines[lines.length - 1] += part;
    }
    return lines.filter((l, i) => l !== '' || i < lines.length - 1);
  }
}

const JOB = 'mloop-churn-d1-abcdef01';

test('is not created for a pipe or a file: the caller logs every line', () => {
  expect(TrainingProgress.create({ isTTY: false, write: () => true }, () => {})).toBeUndefined();
  expect(TrainingProgress.create(undefined, () => {})).toBeUndefined();
});

test('on a TTY, redraws one line per epoch (k/N, a bar, the losses) and keeps other output above it', () => {
  const terminal = new FakeTerminal();
  const progress = TrainingProgress.create(terminal, terminal.print)!;
  progress.start(JOB);
  progress.output(JOB, 'task=classification target=churned train_rows=800 validation_rows=100 device=cpu torch=1.13.0 max_epochs=10');
  progress.output(JOB, 'epoch=1 train_loss=0.690000 validation_loss=0.650000');
  progress.output(JOB, 'epoch=2 train_loss=0.600000 validation_loss=0.580000');
  expect(terminal.screen()).toEqual([
    '  task=classification target=churned train_rows=800 validation_rows=100 device=cpu torch=1.13.0 max_epochs=10',
    `  training ${JOB}  epoch 2/10 [####................]  train_loss 0.600000  validation_loss 0.580000`,
  ]);
  // A stage of another execution, logged while training: above the progress line, which is redrawn.
  progress.log('[Ingest dataset]');
  progress.output(JOB, 'epoch=3 train_loss=0.550000 validation_loss=0.560000');
  progress.output(JOB, 'validation_accuracy=0.910000');
  progress.end(JOB);
  expect(terminal.screen()).toEqual([
    '  task=classification target=churned train_rows=800 validation_rows=100 device=cpu torch=1.13.0 max_epochs=10',
    '[Ingest dataset]',
    '  validation_accuracy=0.910000',
    // The last epoch stays, as a plain line.
    `  training ${JOB}  epoch 3/10  train_loss 0.550000  validation_loss 0.560000`,
  ]);
  // Never an epoch log line: the display replaced them.
  expect(terminal.raw).not.toContain('epoch=');
});

test('takes N from the request when the script does not print it, and fits the line to the terminal', () => {
  const terminal = Object.assign(new FakeTerminal(), { columns: 40 });
  const progress = TrainingProgress.create(terminal, terminal.print)!;
  progress.start(JOB, 5);
  progress.output(JOB, 'epoch=5 train_loss=0.1 validation_loss=0.2');
  expect(terminal.screen()).toEqual([`  training ${JOB}  epoch 5/5 [##`.slice(0, 39)]);
});

test('a script without epoch lines just has its lines printed', () => {
  const terminal = new FakeTerminal();
  const progress = TrainingProgress.create(terminal, terminal.print)!;
  progress.start(JOB);
  progress.output(JOB, 'custom trainer: fitting');
  progress.end(JOB);
  expect(terminal.screen()).toEqual(['  custom trainer: fitting']);
});
