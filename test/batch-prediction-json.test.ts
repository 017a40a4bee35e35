/**
 * Batch scoring's JSON Lines writer (lambdas/batch/prediction-json.ts) against JSON.stringify of
 * the objects it stands for, for what the demo model's classes (0 and 1) never show: class names
 * JSON escapes or writes in another order, `__proto__`, a regression's values, numbers outside
 * the float32 digits' range, and rows whose own object is empty, nested, or has a `prediction`.
 */
import { OutputBytes } from '../lambdas/batch/output-bytes';
import { predictionJsonWriter, writeJsonLine } from '../lambdas/batch/prediction-json';
import { ModelRuntime } from '../lambdas/shared/model-runtime';
import { prng } from '../lambdas/shared/prng';
import type { ModelCard } from '../lambdas/shared/types';

/** A runtime for prediction() alone: the real method over a card (no session). */
function runtimeOf(card: Pick<ModelCard, 'task' | 'classes'>): ModelRuntime {
  const classes = card.classes ?? [];
  return Object.assign(Object.create(ModelRuntime.prototype) as ModelRuntime, { card, plainClassNames: !classes.includes('__proto__') });
}

/** Model outputs: probabilities as a softmax gives them, and the numbers at and past the fast digits' edges. */
function outputs(rows: number, width: number, seed: number): Float32Array {
  const random = prng(seed);
  const edges = [0, 1, -0, 2 ** -9, 2 ** -10, 0.999999940395355, 1e-12, 5, -3.5, NaN, Infinity, -Infinity, 123456.78];
  const out = new Float32Array(rows * width);
  for (let i = 0; i < out.length; i++) out[i] = i % 7 === 3 ? edges[((i / 7) % edges.length) | 0] : random();
  return out;
}

const owns: Record<string, unknown>[] = [
  {},
  { id: 7 },
  { tenure_months: 3, contract: 'month-to-month', note: 'sí 𝄞 "quoted" \\ \n' },
  { nested: { a: [1, 2, { b: null }] }, '10': 'ten', '2': 'two', z: true },
  { __proto__: null, x: 1 } as Record<string, unknown>,
];

describe("batch scoring's JSON Lines writer", () => {
  const cases: Pick<ModelCard, 'task' | 'classes'>[] = [
    { task: 'classification', classes: ['0', '1'] },
    // Integer-like names first and ascending in JSON.stringify's order; the others as inserted.
    { task: 'classification', classes: ['b', 'a', '10', '2', '-1', '01'] },
    { task: 'classification', classes: ['é', '"quoted"', 'back\\slash', 'line\nbreak', '𝄞', '</script>'] },
    { task: 'classification', classes: ['__proto__', 'constructor', 'toString'] },
    { task: 'classification', classes: ['only'] },
    { task: 'regression' },
  ];

  test.each(cases)('writes each row as JSON.stringify of the row and its prediction: %j', (card) => {
    const runtime = runtimeOf(card);
    const width = card.task === 'regression' ? 1 : card.classes!.length;
    const rows = 400;
    const output = outputs(rows, width, width * 31 + 1);
    const write = predictionJsonWriter(runtime);
    const out = new OutputBytes(64);
    let expected = '';
    for (let row = 0; row < rows; row++) {
      const own = owns[row % owns.length];
      expect(writeJsonLine(out, own, write, output, row)).toBe(true);
      expected += JSON.stringify({ ...own, prediction: runtime.prediction(output, row) }) + '\n';
    }
    expect(out.take().toString('utf8')).toBe(expected);
  });

  test('a row with its own `prediction` is left to the caller: nothing written', () => {
    const runtime = runtimeOf({ task: 'classification', classes: ['0', '1'] });
    const out = new OutputBytes(64);
    out.text('before\n');
    expect(writeJsonLine(out, { a: 1, prediction: 'mine' }, predictionJsonWriter(runtime), outputs(1, 2, 3), 0)).toBe(false);
    expect(out.take().toString('utf8')).toBe('before\n');
  });
});
