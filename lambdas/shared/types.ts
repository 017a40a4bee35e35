/**
 * Types shared by every stage of the loop: the dataset schema, its profile, and the model card.
 * They are stored as JSON (in S3 and DynamoDB), so they are plain data with no methods.
 */

import type { DatePart } from './datetime';

/** How a model feature is treated: numbers are standardized, everything else is a category. */
export type FeatureType = 'numeric' | 'categorical';

/**
 * How a dataset's column is read: a feature type, or dates and times, which are not features
 * themselves but the source of numeric features derived from them (lambdas/shared/datetime.ts).
 */
export type ColumnType = FeatureType | 'datetime';

/** Why a column is not a feature: a value unique to each row, or free text (long, mostly distinct strings). */
export type ExclusionReason = 'identifier' | 'free_text';

/** A numeric feature computed from a date-time column's raw value (lambdas/shared/datetime.ts). */
export interface DerivedFrom {
  readonly column: string;
  readonly part: DatePart;
  /** The source column's declared format, when its values are not ISO 8601. */
  readonly format?: string;
}

/** The learning task, inferred from the target column or given explicitly. */
export type Task = 'classification' | 'regression';

export interface ColumnSchema {
  readonly name: string;
  readonly type: ColumnType;
  /** Whether the column had empty cells in the dataset that fixed the schema. */
  readonly nullable: boolean;
  /**
   * Categorical columns: the categories seen in the dataset that fixed the schema, sorted. In the
   * splits' schema.json (what the trainer reads): the train split's vocabulary, the most frequent
   * values of the train rows only, so that a value the model never trained on is its unknown bucket.
   */
  readonly categories?: string[];
  /** Datetime columns: the format of values that are not ISO 8601, e.g. `DD/MM/YYYY HH:mm` (tokens in lambdas/shared/datetime.ts). */
  readonly format?: string;
  /** Datetime columns: the features derived from the column. Default: every part, or the calendar ones when the values have no time of day. */
  readonly parts?: DatePart[];
  /** Not a feature of the model (a categorical column unique to each row, or free text): kept in the data, noted in the report and the model card. */
  readonly excluded?: ExclusionReason;
  /** A two-valued column that spells a boolean (true/false, yes/no, 0/1...): its [false, true] spellings. */
  readonly boolean?: [string, string];
  /** The splits' schema.json only: a numeric column ingestion derived from a date-time column. */
  readonly derivedFrom?: DerivedFrom;
}

/** The schema of a model's datasets: fixed by the first accepted dataset, checked for later ones. */
export interface DatasetSchema {
  readonly columns: ColumnSchema[];
  readonly target: string;
  readonly task: Task;
  /** Class labels, sorted (classification only). */
  readonly classes?: string[];
  /**
   * A column of times that orders the rows: the splits are by time (the earliest 80% train, the
   * next 10% validation, the latest 10% test) instead of by a hash of each row. Declared in
   * schema.json; not a feature unless it is also one of `columns`.
   */
  readonly timeColumn?: string;
}

export interface Histogram {
  /** Bin edges, ascending, length = counts.length + 1. Values outside fall in the first or last bin. */
  readonly edges: number[];
  readonly counts: number[];
}

export interface NumericColumnProfile {
  readonly kind: 'numeric';
  readonly count: number;
  readonly missing: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
  readonly histogram: Histogram;
}

export interface CategoricalColumnProfile {
  readonly kind: 'categorical';
  readonly count: number;
  readonly missing: number;
  readonly distinct: number;
  /** Value -> count. The most frequent values; the rest are summed under OTHER_CATEGORY. */
  readonly frequencies: Record<string, number>;
}

export type ColumnProfile = NumericColumnProfile | CategoricalColumnProfile;

/**
 * What the drift tests need of a numeric column beyond its histogram (lambdas/shared/stats/grid.ts).
 * 'points': every distinct value (`edges`) with its count, for columns of at most 1,024 values (the
 * KS statistic is then exact); 'bins': about 100 bins holding about equal shares of the values,
 * counts[i] in [edges[i], edges[i+1]), the last bin closed.
 */
export interface NumericSketch {
  readonly kind: 'points' | 'bins';
  /** 'points': the distinct values, ascending (as many as counts); 'bins': counts.length + 1 edges. */
  readonly edges: number[];
  readonly counts: number[];
  /** 'bins': the mean of each bin's values (within half a fine bin of the profile's sketch). */
  readonly means?: number[];
  /** Each distinct value and its count, when the column has at most 20 distinct values. */
  readonly values?: Record<string, number>;
}

/** The statistics of one dataset version, the baseline drift monitors compare live inputs with. */
export interface DatasetProfile {
  readonly rows: number;
  readonly columns: Record<string, ColumnProfile>;
  /** Numeric columns' sketches for the drift tests (absent in profiles written before them). */
  readonly sketches?: Record<string, NumericSketch>;
}

/** The key under which a profile sums the categories beyond its top-k. */
export const OTHER_CATEGORY = '__other__';

export interface ModelFeature {
  readonly name: string;
  readonly type: FeatureType;
  /**
   * Categorical features: the categories the model knows (any other value is the unknown bucket).
   * Format version 1 only: the runtime feeds index i+1 for categories[i], 0 for unknown.
   */
  readonly categories?: string[];
  /** A numeric feature derived from a date-time input: requests send the raw date-time, the runtime derives the value. */
  readonly derivedFrom?: DerivedFrom;
  /** A boolean categorical feature: its [false, true] categories, which JSON false and true map to. */
  readonly boolean?: [string, string];
}

/** A column of the training data that the model does not use, and why. */
export interface IgnoredColumn {
  readonly name: string;
  readonly reason: ExclusionReason;
}

/**
 * The model card the trainer writes beside model.onnx. It is the contract between training and
 * inference: which ONNX inputs to feed and how to read the outputs.
 *
 * ONNX contract, both versions:
 * - input `numeric`: float32 [N, numeric features in card order], NaN for a missing value
 *   (present only when the model has numeric features);
 * - output `probabilities`: float32 [N, classes] for classification; `value`: float32 [N, 1]
 *   for regression, in the target's own units.
 * Categorical features, version 2 (the default trainer's): one input per categorical feature,
 * named by the feature, string [N, 1] holding the raw value; "" (missing) and any value not in
 * `categories` fall in the graph's unknown bucket. The graph looks the category up itself, so the
 * inference side keeps no copy of the vocabulary.
 * Categorical features, version 1 (the index contract, still read): input `categorical`: int64
 * [N, categorical features in card order], 0 for an unknown or missing category, i + 1 for
 * `categories[i]` (present only when the model has categorical features).
 * Category lookup (version 2), standardization, imputation and the embedding of categories are
 * inside the graph.
 */
export interface ModelCard {
  readonly formatVersion: 1 | 2;
  readonly task: Task;
  readonly target: string;
  readonly features: ModelFeature[];
  /** Class labels in output order (classification only). */
  readonly classes?: string[];
  readonly hyperparameters: Record<string, string | number | boolean>;
  /** Metrics on the validation split, by name (accuracy, log_loss, rmse, ...). */
  readonly validationMetrics: Record<string, number>;
  readonly trainingSeconds: number;
  readonly epochs: number;
  /** The MLP's (framework `pytorch`). */
  readonly torchVersion?: string;
  /** The trees trainer's (framework `xgboost`, training/train_xgboost.py). */
  readonly xgboostVersion?: string;
  readonly device: string;
  /** `pytorch` (the MLP) or `xgboost` (gradient-boosted trees); a custom trainer's own name. */
  readonly framework: string;
  /** Columns the model does not use (identifiers, free text): a request may send them; they are ignored. */
  readonly ignoredColumns?: IgnoredColumn[];
  /**
   * `[epoch, trainLoss, validationLoss]` per epoch (per boosting round for the trees), the losses
   * of the trainer's `epoch=` log lines, at most 500 (thinned evenly); absent on older cards.
   */
  readonly lossCurve?: [number, number, number][];
  /**
   * The MLP's robust transforms of heavy-tailed numeric features, inside the ONNX graph: a feature
   * whose train-split skewness passed the threshold is fed as signed log1p((x - center) / scale).
   */
  readonly numericTransforms?: NumericTransform[];
  /** The MLP's class weights in its loss, by class label, when the classes were imbalanced (or asked for). */
  readonly classWeights?: Record<string, number>;
  /**
   * The trainer that produced the model when `trainer=auto` chose it (`mlp` or `xgboost`; see
   * training/train_auto.py). Absent on a card written by one trainer alone: `framework` says which.
   */
  readonly trainer?: string;
  /** The validation metric auto chose by, lower is better: `log_loss` (classification) or `rmse`. */
  readonly selectedBy?: string;
  /** Each trainer auto ran, by name: its validation metrics, or why it produced no model. */
  readonly candidates?: Record<string, TrainerCandidate>;
}

/** One robust transform of the MLP (ModelCard.numericTransforms; training/README.md). */
export interface NumericTransform {
  readonly feature: string;
  readonly transform: 'signed_log1p';
  readonly center: number;
  readonly scale: number;
  /** The feature's skewness on the train split, which chose the transform. */
  readonly skew: number;
}

/** One trainer's result in a `trainer=auto` job (ModelCard.candidates). */
export interface TrainerCandidate {
  readonly framework?: string;
  readonly validationMetrics?: Record<string, number>;
  readonly trainingSeconds?: number;
  readonly epochs?: number;
  /** Why this trainer produced no model (e.g. xgboost cannot be imported in the SageMaker PyTorch image). */
  readonly error?: string;
}
