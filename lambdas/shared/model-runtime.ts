/**
 * Runs a trained model: feeds raw feature values to the ONNX graph as the model card's contract
 * says (see ModelCard in ./types) and reads its outputs. Preprocessing lives inside the graph: a
 * formatVersion 2 card gets raw category strings, one string input per categorical feature. Only a
 * formatVersion 1 card (the older index contract) has its categories mapped to indices here.
 *
 * Shared by evaluation (rows of the test split) and inference (request instances), so that both
 * score a model the same way.
 */
import * as ort from 'onnxruntime-node';
import { ModelArtifactInvalid } from './errors';
import { NumericReader, categoryOf } from './model-inputs';
import { getOwn, setOwn } from './own-record';
import type { ModelCard, ModelFeature } from './types';

/** How a model's ONNX session runs. */
export interface RuntimeOptions {
  /**
   * onnxruntime's intra-op threads; 0 (its default) is one per physical core. On a small tabular
   * graph more threads do not make a batch faster, and the extra ones spin after each run on the
   * cores the caller's JavaScript needs (batch scoring reads and writes between runs): batch
   * scoring asks for 1. @default 0
   */
  readonly intraOpThreads?: number;
}

/** The session options a model is loaded with (the batch bench's bare session.run uses the same). */
export function sessionOptions(options: RuntimeOptions = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
  };
}

export type Prediction = { label: string; probabilities: Record<string, number> } | { value: number };

/**
 * Rows as the graph takes them, column by column: the numeric features row-major
 * (rows x numeric features, NaN for missing), and each categorical feature's strings ('' for
 * missing). Filled row by row from instances (encodeInstance) or from a file's cells.
 */
export interface ColumnBatch {
  readonly rows: number;
  readonly numeric: Float32Array;
  readonly categorical: string[][];
}

/** A raw feature value as it arrives from a CSV cell or a JSON request. */
export type RawValue = unknown;

/** Raw instances into a ColumnBatch, as the card's features say (no session: batch scoring's tests build one from a card). */
export class InstanceEncoder {
  /** The numeric features in the graph's order (the columns of ColumnBatch.numeric). */
  readonly numericFeatures: readonly ModelFeature[];
  /** The categorical features in the graph's order (the arrays of ColumnBatch.categorical). */
  readonly categoricalFeatures: readonly ModelFeature[];
  /** Numeric features from raw values: plain ones, and those derived from a date-time (model-inputs.ts). */
  private readonly numeric: NumericReader;

  constructor(readonly card: ModelCard) {
    this.numericFeatures = card.features.filter((f) => f.type === 'numeric');
    this.numeric = new NumericReader(this.numericFeatures);
    this.categoricalFeatures = card.features.filter((f) => f.type === 'categorical');
  }

  /** An empty batch of `rows` rows, to fill with encodeInstance (or batch scoring's cell encoder). */
  newBatch(rows: number): ColumnBatch {
    return {
      rows,
      numeric: new Float32Array(rows * this.numericFeatures.length),
      categorical: this.categoricalFeatures.map(() => new Array<string>(rows).fill('')),
    };
  }

  /** Write one raw instance (an object keyed by feature name) into row `row` of `batch`. */
  encodeInstance(instance: Record<string, RawValue>, batch: ColumnBatch, row: number): void {
    const width = this.numericFeatures.length;
    if (width > 0) this.numeric.read(instance, batch.numeric, row * width);
    for (let c = 0; c < this.categoricalFeatures.length; c++) {
      const feature = this.categoricalFeatures[c];
      batch.categorical[c][row] = categoryOf(feature, getOwn(instance, feature.name));
    }
  }
}

export class ModelRuntime {
  /** How instances become the graph's inputs. */
  readonly encoder: InstanceEncoder;
  private readonly numericCount: number;
  private readonly categorical: { feature: ModelFeature; index: Map<string, number> }[];
  /** No class is called __proto__: probabilities are built by assignment, faster than defineProperty. */
  private readonly plainClassNames: boolean;

  private constructor(
    readonly card: ModelCard,
    private readonly session: ort.InferenceSession,
  ) {
    this.encoder = new InstanceEncoder(card);
    this.numericCount = this.encoder.numericFeatures.length;
    this.categorical = this.encoder.categoricalFeatures.map((f) => ({
      feature: f,
      index: new Map((f.categories ?? []).map((c, i) => [c, i + 1])),
    }));
    this.plainClassNames = !(card.classes ?? []).includes('__proto__');
  }

  static async load(onnx: Uint8Array, card: ModelCard, source = 'model.onnx', options: RuntimeOptions = {}): Promise<ModelRuntime> {
    if (card.formatVersion !== 1 && card.formatVersion !== 2) {
      throw new ModelArtifactInvalid(
        `The model card of ${source} has formatVersion ${String(card.formatVersion)}; this mloop reads versions 1 and 2.`,
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnx, sessionOptions(options));
    } catch (error) {
      throw new ModelArtifactInvalid(`${source} could not be loaded by onnxruntime: ${(error as Error).message}`);
    }
    const expected = card.task === 'classification' ? 'probabilities' : 'value';
    if (!session.outputNames.includes(expected)) {
      throw new ModelArtifactInvalid(
        `${source} has outputs [${session.outputNames.join(', ')}]; a ${card.task} model must output '${expected}'.`,
      );
    }
    return new ModelRuntime(card, session);
  }

  /** The graph's inputs for the first `n` rows of a batch. */
  private feeds(batch: ColumnBatch, n: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    if (this.numericCount > 0) {
      // A copy for a short last batch: the tensor takes the whole array it is given.
      const data = n * this.numericCount === batch.numeric.length ? batch.numeric : batch.numeric.slice(0, n * this.numericCount);
      feeds.numeric = new ort.Tensor('float32', data, [n, this.numericCount]);
    }
    if (this.categorical.length > 0 && this.card.formatVersion === 2) {
      // One string input per feature; the graph maps "" and unknown values to its unknown bucket.
      this.categorical.forEach(({ feature }, c) => {
        const data = batch.categorical[c];
        feeds[feature.name] = new ort.Tensor('string', data.length === n ? data : data.slice(0, n), [n, 1]);
      });
    } else if (this.categorical.length > 0) {
      const data = new BigInt64Array(n * this.categorical.length);
      for (let row = 0; row < n; row++) {
        this.categorical.forEach(({ index }, col) => {
          const category = batch.categorical[col][row];
          data[row * this.categorical.length + col] = BigInt(category === '' ? 0 : (index.get(category) ?? 0));
        });
      }
      feeds.categorical = new ort.Tensor('int64', data, [n, this.categorical.length]);
    }
    return feeds;
  }

  /**
   * Score the first `n` rows of a batch: the graph's output as it comes, `classes` probabilities
   * per row (classification) or one value per row (regression). See prediction() for one row's.
   */
  async run(batch: ColumnBatch, n = batch.rows): Promise<Float32Array> {
    if (n === 0) return new Float32Array(0);
    const out = await this.session.run(this.feeds(batch, n));
    return (this.card.task === 'regression' ? out.value.data : out.probabilities.data) as Float32Array;
  }

  /** Row `row` of run()'s output as the API answers it. */
  prediction(output: Float32Array, row: number): Prediction {
    if (this.card.task === 'regression') return { value: output[row] };
    const classes = this.card.classes ?? [];
    const k = classes.length;
    let best = 0;
    const probabilities: Record<string, number> = {};
    for (let c = 0; c < k; c++) {
      const p = output[row * k + c];
      // A class may be called __proto__, which a plain assignment would not define.
      if (this.plainClassNames) probabilities[classes[c]] = p;
      else setOwn(probabilities, classes[c], p);
      if (p > output[row * k + best]) best = c;
    }
    return { label: classes[best], probabilities };
  }

  async predict(instances: Record<string, RawValue>[]): Promise<Prediction[]> {
    if (instances.length === 0) return [];
    const batch = this.encoder.newBatch(instances.length);
    instances.forEach((instance, row) => this.encoder.encodeInstance(instance, batch, row));
    const output = await this.run(batch);
    return instances.map((_, row) => this.prediction(output, row));
  }
}
