/**
 * mloop's public API: the stack, the whole loop as one construct, each concern's construct and
 * their props. `import { MloopStack, Mloop } from 'mloop'`.
 *
 * @packageDocumentation
 */
export { Mloop, type MloopParts, type MloopProps, type TrainingSettings } from './mloop';
export { MloopStack, type MloopStackProps } from './mloop-stack';
export { STACK_OUTPUTS, type StackOutput } from './stack-outputs';
export { buildApp, type BuildAppOptions } from './app';
export {
  DataLake,
  type DataLakeProps,
  DatasetIngestion,
  type DatasetIngestionProps,
  type DatasetIngestionOptions,
  type IngestionPartsOptions,
} from './data';
export { ModelRegistry, type ModelRegistryProps, type ModelGateOptions, type PipelineStagesProps, type PipelineStages } from './registry';
export { ModelTraining, type ModelTrainingProps, type ModelTrainingOptions } from './training';
export { TrainingPipeline, type TrainingPipelineProps } from './pipeline';
export type { ApprovalOptions } from './approval';
export { InferenceApi, type InferenceApiProps } from './inference';
export { DriftMonitor, type DriftMonitorProps } from './monitoring';
export { BatchScoring, type BatchScoringProps } from './batch';
export { OperatorDashboard, type OperatorDashboardProps } from './dashboard';
export { MloopFunction, type MloopFunctionProps } from './mloop-function';
export { FUNCTIONS, type FunctionId, type FunctionEnvironment, type FunctionSpec } from './function-catalog';
export { TrainingJobTask, type TrainingJobTaskProps, type TrainingJobExtras } from './training-job';
export type { SchemaFile, SchemaFileColumn, SchemaInput } from '../lambdas/shared/schema-file';
export { packageVersion } from './package-root';
export { TRAINERS, type TrainerChoice } from '../lambdas/shared/trainers';
export type { ColumnSchema, ColumnType, DatasetSchema, DerivedFrom, ExclusionReason, FeatureType, Task } from '../lambdas/shared/types';
