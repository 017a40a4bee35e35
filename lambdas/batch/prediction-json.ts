/**
 * A JSON Lines output row, written as text: the same bytes as JSON.stringify of the row's object
 * spread with its Prediction (ModelRuntime.prediction), without building either object per row.
 * test/batch-scoring.test.ts compares it with the per-row path, which stringifies the objects.
 */
import type { ModelRuntime } from '../shared/model-runtime';

/** JSON.stringify of a number: finite numbers as String writes them, the others null. */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** Row `row` of the model's output as JSON.stringify(runtime.prediction(output, row)) writes it. */
export function predictionJsonWriter(runtime: ModelRuntime): (output: Float32Array, row: number) => string {
  if (runtime.card.task === 'regression') return (output, row) => `{"value":${jsonNumber(output[row])}}`;
  const classes = runtime.card.classes ?? [];
  const k = classes.length;
  // The probabilities' keys in the order JSON.stringify writes them (integer-like class names
  // first, ascending, then the others as inserted): read from an object prediction() built.
  const sample = runtime.prediction(new Float32Array(k), 0) as { probabilities: Record<string, number> };
  const order = Object.keys(sample.probabilities).map((name) => classes.indexOf(name));
  const keys = order.map((c) => JSON.stringify(classes[c]) + ':');
  const labels = classes.map((c) => `{"label":${JSON.stringify(c)},"probabilities":{`);
  return (output, row) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (output[row * k + c] > output[row * k + best]) best = c;
    let text = labels[best];
    for (let j = 0; j < order.length; j++) text += (j > 0 ? ',' : '') + keys[j] + jsonNumber(output[row * k + order[j]]);
    return text + '}}';
  };
}

/**
 * JSON.stringify({ ...own, prediction }) for `prediction` already as JSON text: `own` with the
 * prediction as its last key; undefined when `own` has a key `prediction` (the spread keeps that
 * key's place), for the caller to build the object.
 */
export function jsonLineWith(own: Record<string, unknown>, prediction: string): string | undefined {
  if (Object.hasOwn(own, 'prediction')) return undefined;
  const text = JSON.stringify(own);
  return (text === '{}' ? '{' : text.slice(0, -1) + ',') + '"prediction":' + prediction + '}\n';
}
