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

export type Prediction = { label: string; probabilities: Record<string, number> } | { value: number };

/** A raw feature value as it arrives from a CSV cell or a JSON request. */
export type RawValue = unknown;

export class ModelRuntime {
  private readonly numericCount: number;
  /** Numeric features from raw values: plain ones, and those derived from a date-time (model-inputs.ts). */
  private readonly numeric: NumericReader;
  private readonly categorical: { feature: ModelFeature; index: Map<string, number> }[];

  private constructor(
    readonly card: ModelCard,
    private readonly session: ort.InferenceSession,
  ) {
    const numeric = card.features.filter((f) => f.type === 'numeric');
    this.numericCount = numeric.length;
    this.numeric = new NumericReader(numeric);
    this.categorical = card.features
      .filter((f) => f.type === 'categorical')
      .map((f) => ({ feature: f, index: new Map((f.categories ?? []).map((c, i) => [c, i + 1])) }));
  }

  static async load(onnx: Uint8Array, card: ModelCard, source = 'model.onnx'): Promise<ModelRuntime> {
    if (card.formatVersion !== 1 && card.formatVersion !== 2) {
      throw new ModelArtifactInvalid(
        `The model card of ${source} has formatVersion ${String(card.formatVersion)}; this mloop reads versions 1 and 2.`,
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnx, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
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

  /** Build the graph's inputs from raw instances (objects keyed by feature name). */
  private feeds(instances: Record<string, RawValue>[]): Record<string, ort.Tensor> {
    const n = instances.length;
    const feeds: Record<string, ort.Tensor> = {};
    if (this.numericCount > 0) {
      const data = new Float32Array(n * this.numericCount);
      instances.forEach((instance, row) => this.numeric.read(instance, data, row * this.numericCount));
      feeds.numeric = new ort.Tensor('float32', data, [n, this.numericCount]);
    }
    if (this.categorical.length > 0 && this.card.formatVersion === 2) {
      // One string input per feature; the graph maps "" and unknown values to its unknown bucket.
      for (const { feature } of this.categorical) {
        const data = instances.map((instance) => categoryOf(feature, getOwn(instance, feature.name)));
        feeds[feature.name] = new ort.Tensor('string', data, [n, 1]);
      }
    } else if (this.categorical.length > 0) {
      const data = new BigInt64Array(n * this.categorical.length);
      instances.forEach((instance, row) => {
        this.categorical.forEach(({ feature, index }, col) => {
          const category = categoryOf(feature, getOwn(instance, feature.name));
          data[row * this.categorical.length + col] = BigInt(category === '' ? 0 : (index.get(category) ?? 0));
        });
      });
      feeds.categorical = new ort.Tensor('int64', data, [n, this.categorical.length]);
    }
    return feeds;
  }

  async predict(instances: Record<string, RawValue>[]): Promise<Prediction[]> {
    if (instances.length === 0) return [];
    const out = await this.session.run(this.feeds(instances));
    if (this.card.task === 'regression') {
      const values = out.value.data as Float32Array;
      return Array.from(values, (v) => ({ value: v }));
    }
    const classes = this.card.classes ?? [];
    const probs = out.probabilities.data as Float32Array;
    const k = classes.length;
    return instances.map((_, row) => {
      let best = 0;
      const probabilities: Record<string, number> = {};
      for (let c = 0; c < k; c++) {
        const p = probs[row * k + c];
        setOwn(probabilities, classes[c], p); // a class may be called __proto__
        if (p > probs[row * k + best]) best = c;
      }
      return { label: classes[best], probabilities };
    });
  }
}
