/**
 * The mloop stack: a Stack holding what the Mloop construct holds (lib/mloop.ts: composeLoop
 * composes the constructs of the loop and hands each its settings).
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import { type Construct } from 'constructs';
import type { BatchScoring } from './batch';
import type { OperatorDashboard } from './dashboard';
import type { DataLake, DatasetIngestion } from './data';
import type { InferenceApi } from './inference';
import type { DriftMonitor } from './monitoring';
import { composeLoop, type MloopParts, type MloopProps } from './mloop';
import type { TrainingPipeline } from './pipeline';
import type { ModelRegistry } from './registry';
import type { ModelTraining } from './training';

export { STACK_OUTPUTS, type StackOutput } from './stack-outputs';
export type { TrainingSettings } from './mloop';

/** The stack's props (StackProps) and the loop's (MloopProps). */
export interface MloopStackProps extends StackProps, MloopProps {}

/** mloop on AWS: data lake, registry, training pipeline, inference API and drift monitor. */
export class MloopStack extends Stack implements MloopParts {
  /** The data bucket (see Mloop.dataLake). */
  readonly dataLake: DataLake;
  /** The model registry (see Mloop.registry). */
  readonly registry: ModelRegistry;
  /** The training job's settings and role (see Mloop.training). */
  readonly training: ModelTraining;
  /** Dataset ingestion (see Mloop.ingestion). */
  readonly ingestion: DatasetIngestion;
  /** The training pipeline (see Mloop.pipeline). */
  readonly pipeline: TrainingPipeline;
  /** The prediction API (see Mloop.inference). */
  readonly inference: InferenceApi;
  /** The drift monitor (see Mloop.monitor). */
  readonly monitor: DriftMonitor;
  /** Batch scoring (see Mloop.batch). */
  readonly batch: BatchScoring;
  /** The operators' CloudWatch dashboard (see Mloop.dashboard). */
  readonly dashboard: OperatorDashboard;

  constructor(scope: Construct, id: string, props: MloopStackProps = {}) {
    super(scope, id, props);
    // The loop's constructs are the stack's own children, as a Mloop's are its own (composeLoop):
    // construct paths, logical ids and cdk-nag acknowledgements stay what they were.
    ({
      dataLake: this.dataLake,
      registry: this.registry,
      training: this.training,
      ingestion: this.ingestion,
      pipeline: this.pipeline,
      inference: this.inference,
      monitor: this.monitor,
      batch: this.batch,
      dashboard: this.dashboard,
    } = composeLoop(this, props));
  }
}
