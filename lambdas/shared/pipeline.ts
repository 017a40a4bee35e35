/**
 * The shapes that travel through the training pipeline's state: what each stage returns under its
 * result path ($.ingest, $.training, $.evaluation, $.registration). The state-machine definition
 * in lib/pipeline.ts refers to these fields by JSONPath, so they change together.
 */
import type { Task, TrainerCandidate } from './types';

/** The "Object Created" event as EventBridge delivers it (the fields the pipeline reads). */
export interface ObjectCreatedEvent {
  readonly id?: string;
  readonly time?: string;
  readonly detail: {
    readonly bucket: { readonly name: string };
    readonly object: { readonly key: string; readonly size?: number; readonly 'version-id'?: string; readonly etag?: string };
  };
}

/**
 * Training again on a dataset version the registry holds, without dropping bytes (`mloop train`):
 * the state machine's input is `{"id", "time", "detail": {"retrain": TrainRequest}}`, which Ingest
 * answers from the dataset record, so the same state machine runs from Train on.
 */
export interface TrainRequest {
  readonly model: string;
  /** @default the model's latest accepted dataset version */
  readonly datasetVersion?: number;
  /** Who asked (`user:<name>`), recorded on the run. */
  readonly requestedBy?: string;
  /** Why (new hyperparameters, new training code, a fixed quota...), recorded on the run. */
  readonly reason?: string;
  /**
   * The trainer for this run (`mloop train --trainer`), over hyperparameters.json and the stack's
   * `trainers` setting (lambdas/shared/trainers.ts).
   * @default - hyperparameters.json's `trainer`, else the stack's
   */
  readonly trainer?: string;
}

/** The detail of a pipeline execution's input: a dropped object, or a request to train again. */
export type PipelineDetail = ObjectCreatedEvent['detail'] | { readonly retrain: TrainRequest };

/** Whether an execution's detail asks to train an existing dataset version again. */
export function isTrainRequest(detail: PipelineDetail | undefined): detail is { readonly retrain: TrainRequest } {
  const retrain = (detail as { retrain?: unknown } | undefined)?.retrain;
  return typeof retrain === 'object' && retrain !== null;
}

export interface IngestInput {
  readonly detail: PipelineDetail;
  readonly eventId?: string;
  readonly eventTime?: string;
  readonly execution: string;
}

export type IngestOutput =
  | {
      readonly status: 'ACCEPTED';
      readonly model: string;
      readonly datasetVersion: number;
      readonly sha256: string;
      readonly s3VersionId?: string;
      readonly target: string;
      readonly task: Task;
      readonly trainingJobName: string;
      readonly channels: { readonly train: string; readonly validation: string };
      readonly testSplit: string;
      /** datasets/<model>/hyperparameters.json as SageMaker wants them (strings); {} when there is none. */
      readonly hyperparameters: Record<string, string>;
      /**
       * Whether this execution holds the model's training slot (acquired) or another execution
       * trains the model now (busy: the state machine waits and runs Ingest again).
       */
      readonly trainingSlot?: 'acquired' | 'busy';
      /** The execution that holds the slot, when busy. */
      readonly heldBy?: string;
      /** Since when it holds it (ISO time), when busy and known. */
      readonly heldSince?: string;
      /** When this run trains a dataset version again: the run on it before this one. */
      readonly retryOf?: string;
    }
  | {
      readonly status: 'DUPLICATE';
      readonly model: string;
      readonly datasetVersion: number | null;
      /** The run that holds these bytes: the one that ingested them, or the latest that trains on them. */
      readonly duplicateOf: string;
      /** The model version that run produced, when it did (null while it is in progress). */
      readonly modelVersion?: number | null;
      /** Why nothing is trained, in a sentence. */
      readonly reason?: string;
    }
  /**
   * A configuration file beside the data (datasets/<model>/schema.json or hyperparameters.json):
   * checked, nothing to train; it applies to the datasets dropped after it.
   */
  | { readonly status: 'CONFIG'; readonly model: string; readonly datasetVersion: null; readonly file: string; readonly uri: string }
  /**
   * A file too big for one pass (lambdas/data/parts.ts): the state machine scans its parts in a
   * Map state, then merges them ('Merge parts' answers SPLITS, DUPLICATE or fails as rejected).
   */
  | {
      readonly status: 'PARTS';
      readonly model: string;
      readonly datasetVersion: null;
      readonly plan: string;
      readonly parts: readonly PartRange[];
    }
  /** Accepted as a new version: the Map state writes each part's splits, then 'Finish ingest' records it. */
  | {
      readonly status: 'SPLITS';
      readonly model: string;
      readonly datasetVersion: number;
      readonly plan: string;
      readonly parts: readonly PartRange[];
    };

/** A byte range [start, end) of a dropped file: a part of it (lambdas/data/parts.ts). */
export interface PartRange {
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

/** What the pipeline keeps of SageMaker's DescribeTrainingJob answer (its ResultSelector). */
export interface TrainingOutput {
  readonly trainingJobName: string;
  readonly modelArtifacts: string;
}

/** What the Evaluate state receives: the accepted dataset and the training job's model. */
export interface EvaluateInput {
  readonly execution: string;
  readonly ingest: Extract<IngestOutput, { status: 'ACCEPTED' }>;
  readonly training: TrainingOutput;
}

export interface CandidateSummary {
  readonly onnxUri: string;
  readonly cardUri: string;
  readonly sha256: string;
  readonly metrics: Record<string, number>;
  readonly validationMetrics: Record<string, number>;
  readonly hyperparameters: Record<string, unknown>;
  /** The trainer that produced the model, from its card (`trainerOf`): `mlp`, `xgboost`, or a custom framework. */
  readonly trainer?: string;
  /** With `trainer=auto`: each trainer the job ran, with its validation metrics or why it produced no model. */
  readonly trainerCandidates?: Record<string, TrainerCandidate>;
}

/** Per-label counts and scores of a classification (lambdas/registry/metrics.ts `classificationDetails`). */
export interface ClassScores {
  readonly label: string;
  /** TP / predicted; 0 when the label is never predicted (scikit-learn's zero_division=0). */
  readonly precision: number;
  /** TP / support; 0 when the label is not in the truth. */
  readonly recall: number;
  readonly f1: number;
  /** Rows whose truth is this label. */
  readonly support: number;
  /** Rows predicted as this label. */
  readonly predicted: number;
  /** One-vs-rest ROC AUC of this label's probability; absent when undefined (see metrics.ts `classificationMetrics`). */
  readonly rocAuc?: number;
}

/** The structured part of a classification's evaluation (lambdas/registry/metrics.ts): kept out of the numeric metric maps. */
export interface ClassificationDetails {
  /** Rows and columns of the confusion matrix: the model's classes, then truth labels it does not know. */
  readonly labels: string[];
  /** `confusionMatrix[i][j]`: rows whose truth is `labels[i]` and whose prediction is `labels[j]`. */
  readonly confusionMatrix: number[][];
  /** One entry per label, in the order of `labels`. */
  readonly perClass: ClassScores[];
  /**
   * ROC curves (one-vs-rest, of each class's probability; with two classes the second class's
   * alone), at most ROC_CURVE_POINTS points each; absent in a report written before they were kept,
   * and for a class whose AUC is undefined.
   */
  readonly rocCurves?: RocCurve[];
}

/** One class's ROC curve: false and true positive rates from the highest threshold down, (0,0) to (1,1). */
export interface RocCurve {
  readonly label: string;
  /** `[falsePositiveRate, truePositiveRate]` pairs. */
  readonly points: [number, number][];
}

/** A regression's predictions against the truth on the test split: an evenly spaced sample of at most RESIDUAL_SAMPLE rows. */
export interface RegressionDetails {
  /** Test rows scored. */
  readonly rows: number;
  /** `[truth, predicted]` pairs, in the split's order. */
  readonly sample: [number, number][];
}

export interface EvaluationOutput {
  readonly candidate: CandidateSummary;
  readonly champion: { readonly version: number; readonly metrics: Record<string, number> } | null;
  readonly baseline: Record<string, number>;
  readonly decision: { readonly better: boolean; readonly reason: string; readonly metric: string };
  /**
   * The whole evaluation report in S3 (EvaluationReport: this summary and the details), written by
   * Evaluate under the run's candidate prefix. The details grow as K x K with the classes (467 KB
   * at 300 classes), past Step Functions' 256 KiB a state may carry, so only this URI travels.
   */
  readonly reportUri?: string;
  /**
   * Confusion matrices and per-class scores, inline: only in the stored report (EvaluationReport),
   * or in the state of an execution started before the details moved to the report.
   */
  readonly details?: EvaluationDetails;
}

/** Confusion matrices and per-class scores on the test split (classification; null for regression). */
export interface EvaluationDetails {
  readonly candidate: ClassificationDetails | null;
  readonly champion: ClassificationDetails | null;
  /** A regression's: the candidate's predictions against the truth (residual plots); absent for classification, and in reports written before it was kept. */
  readonly candidateResiduals?: RegressionDetails;
}

/** The evaluation report as stored in S3 (the candidate's, then the version's evaluation.json): the summary with its details. */
export interface EvaluationReport extends Omit<EvaluationOutput, 'reportUri' | 'details'> {
  readonly details: EvaluationDetails;
}

export interface RegisterInput {
  readonly execution: string;
  readonly promote: boolean;
  /** Manual approval configured: register as pending-approval and leave the alias alone (the pipeline waits). */
  readonly awaitApproval?: boolean;
  readonly codeVersion: string;
  readonly ingest: Extract<IngestOutput, { status: 'ACCEPTED' }>;
  readonly training: TrainingOutput;
  readonly evaluation: EvaluationOutput;
}

export interface RegisterOutput {
  readonly model: string;
  readonly modelVersion: number;
  readonly datasetVersion: number;
  readonly promoted: boolean;
  readonly metrics: Record<string, number>;
  readonly reason: string;
}

/**
 * Manual approval (ApprovalOptions.requireApproval): after "Register (awaiting approval)",
 * the "Wait for approval" task (.waitForTaskToken) hands the register function its task token;
 * `mloop models approve` resumes it with an ApprovalOutput under $.approval, `reject` fails it
 * with the error `ModelRejected`.
 */
/** The error a rejection fails the waiting task with; the pipeline catches it and ends without promoting. */
export const MODEL_REJECTED = 'ModelRejected';

export interface AwaitApprovalInput {
  readonly stage: 'await-approval';
  readonly taskToken: string;
  readonly execution: string;
  readonly model: string;
  readonly version: number;
}

export interface ApprovalOutput {
  readonly decision: 'approved';
  readonly by: string;
  readonly reason: string;
  readonly decidedAt: string;
}

export interface PromoteApprovedInput {
  readonly stage: 'promote-approved';
  readonly execution: string;
  readonly model: string;
  readonly version: number;
  readonly evaluation: EvaluationOutput;
  readonly approval: ApprovalOutput;
}

/**
 * What a Catch hands the failure path: the whole state at the point of failure (so the stage that
 * failed is known by what is missing) with the error under `error`.
 */
export interface RecordFailureInput {
  readonly execution: string;
  readonly state: {
    readonly detail?: PipelineDetail;
    readonly ingest?: IngestOutput;
    readonly training?: TrainingOutput;
    readonly evaluation?: EvaluationOutput;
    readonly error: { readonly Error: string; readonly Cause?: string };
  };
}

export interface RecordFailureOutput {
  readonly model: string | null;
  readonly stage: string;
  readonly error: string;
  readonly reason: string;
}
