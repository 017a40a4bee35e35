/**
 * A JSON Lines output row, written as bytes: the same bytes as JSON.stringify of the row's object
 * spread with its Prediction (ModelRuntime.prediction), without building the spread object, the
 * prediction's objects or the line's string per row. test/batch-scoring.test.ts compares it with
 * the per-row path, which stringifies the objects, and test/batch-prediction-json.test.ts with
 * JSON.stringify for class names JSON escapes or orders.
 *
 * Why bytes: the prediction as text cost about 1 us per row (a string per probability, the
 * object's text joined, then encoded to UTF-8 by the sink's buffer), more than session.run.
 */
import type { ModelRuntime } from '../shared/model-runtime';
import { writeFloat32At } from './float32-text';
import type { OutputBytes } from './output-bytes';

const COMMA = 0x2c;
const CLOSE = 0x7d;
const LF = 0x0a;
/** `"prediction":`, the key written after the row's own, as UTF-8. */
const PREDICTION_KEY = Buffer.from('"prediction":');

/** Writes row `row` of the model's output as JSON.stringify(runtime.prediction(output, row)) writes it. */
export type PredictionJsonWriter = (out: OutputBytes, output: Float32Array, row: number) => void;

/** JSON.stringify of output[i], a model's number: String's text for a finite one (float32-text.ts for most), else null. */
function writeJsonNumber(out: OutputBytes, output: Float32Array, i: number): void {
  if (writeFloat32At(out, output, i)) return;
  const n = output[i];
  out.ascii(Number.isFinite(n) ? String(n) : 'null');
}

export function predictionJsonWriter(runtime: ModelRuntime): PredictionJsonWriter {
  if (runtime.card.task === 'regression') {
    const open = Buffer.from('{"value":');
    return (out, output, row) => {
      out.raw(open);
      writeJsonNumber(out, output, row);
      out.byte(CLOSE);
    };
  }
  const classes = runtime.card.classes ?? [];
  const k = classes.length;
  // The probabilities' keys in the order JSON.stringify writes them (integer-like class names
  // first, ascending, then the others as inserted): read from an object prediction() built.
  const sample = runtime.prediction(new Float32Array(k), 0) as { probabilities: Record<string, number> };
  const order = Object.keys(sample.probabilities).map((name) => classes.indexOf(name));
  const keys = order.map((c, j) => Buffer.from((j > 0 ? ',' : '') + JSON.stringify(classes[c]) + ':', 'utf8'));
  const labels = classes.map((c) => Buffer.from(`{"label":${JSON.stringify(c)},"probabilities":{`, 'utf8'));
  return (out, output, row) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (output[row * k + c] > output[row * k + best]) best = c;
    out.raw(labels[best]);
    for (let j = 0; j < order.length; j++) {
      out.raw(keys[j]);
      writeJsonNumber(out, output, row * k + order[j]);
    }
    out.byte(CLOSE);
    out.byte(CLOSE);
  };
}

/**
 * Write JSON.stringify({ ...own, prediction }) and a line feed, the prediction row `row` of
 * `output` as `prediction` writes it, and answer true; or write nothing and answer false when
 * `own` has a key `prediction` (the spread keeps that key's place), for the caller to build the
 * object.
 */
export function writeJsonLine(
  out: OutputBytes,
  own: Record<string, unknown>,
  prediction: PredictionJsonWriter,
  output: Float32Array,
  row: number,
): boolean {
  if (Object.hasOwn(own, 'prediction')) return false;
  const text = JSON.stringify(own);
  out.text(text);
  // The object's closing brace (its last byte) becomes the separator before the new key, or, for
  // {}, goes: the new key is the first.
  out.length--;
  if (text.length > 2) out.byte(COMMA);
  out.raw(PREDICTION_KEY);
  prediction(out, output, row);
  out.byte(CLOSE);
  out.byte(LF);
  return true;
}
