/**
 * The SageMaker CreateTrainingJob task, with the request fields that CDK's
 * SageMakerCreateTrainingJob does not expose (aws-cdk-lib 2.276): managed spot training
 * (EnableManagedSpotTraining, StoppingCondition.MaxWaitTimeInSeconds), checkpoints
 * (CheckpointConfig), warm pools (ResourceConfig.KeepAlivePeriodInSeconds) and hyperparameters
 * given as one JSONPath expression (`HyperParameters.$`, e.g. a States.JsonMerge).
 *
 * The escape hatch: the task renders its Parameters as CDK does and `renderTrainingJobExtras`
 * adds these fields to them. It works on the state's parameters, not on the synthesized
 * template, so the definition that CDK writes, that cdk-nag sees, that the tests assert and that
 * the local runtime runs are one and the same. Everything CDK does for the standard fields
 * (VPC config and its security group, KMS key grants, the role's PassRole) is unchanged.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/** What the task adds to CDK's rendering of CreateTrainingJob. */
export interface TrainingJobExtras {
  /**
   * Run on spot capacity: EnableManagedSpotTraining, and StoppingCondition.MaxWaitTimeInSeconds
   * (the longest the job may take, waiting for capacity included; at least MaxRuntimeInSeconds).
   * @default - on-demand
   */
  readonly spot?: { readonly maxWaitTime: Duration };
  /**
   * Where SageMaker syncs the container's /opt/ml/checkpoints: an s3:// URI, or a JSONPath
   * expression (a path or an intrinsic such as States.Format) evaluated on the state's input.
   * @default - no CheckpointConfig
   */
  readonly checkpointS3Uri?: { readonly expression: string } | { readonly uri: string };
  /**
   * ResourceConfig.KeepAlivePeriodInSeconds: how long the instances stay warm for the next
   * matching job.
   * @default - no warm pool
   */
  readonly keepAlive?: Duration;
  /**
   * A JSONPath expression (path or intrinsic) that gives the whole HyperParameters map; it
   * replaces the `hyperparameters` prop.
   * @default - the `hyperparameters` prop, as CDK renders it
   */
  readonly hyperparametersExpression?: string;
}

/** SageMakerCreateTrainingJob's props and the request fields it does not render (TrainingJobExtras). */
export interface TrainingJobTaskProps extends tasks.SageMakerCreateTrainingJobProps {
  /**
   * Request fields added to what SageMakerCreateTrainingJob renders.
   * @default - none: the task's request as CDK renders it
   */
  readonly extras?: TrainingJobExtras;
}

/** Add the extras to CreateTrainingJob parameters as CDK rendered them (JSONPath). Pure; exported for tests. */
export function renderTrainingJobExtras(parameters: Record<string, unknown>, extras: TrainingJobExtras): Record<string, unknown> {
  const out: Record<string, unknown> = { ...parameters };
  if (extras.spot) {
    out.EnableManagedSpotTraining = true;
    out.StoppingCondition = {
      ...(parameters.StoppingCondition as Record<string, unknown> | undefined),
      MaxWaitTimeInSeconds: extras.spot.maxWaitTime.toSeconds(),
    };
  }
  if (extras.checkpointS3Uri) {
    out.CheckpointConfig =
      'expression' in extras.checkpointS3Uri ? { 'S3Uri.$': extras.checkpointS3Uri.expression } : { S3Uri: extras.checkpointS3Uri.uri };
  }
  if (extras.keepAlive) {
    out.ResourceConfig = {
      ...(parameters.ResourceConfig as Record<string, unknown> | undefined),
      KeepAlivePeriodInSeconds: extras.keepAlive.toSeconds(),
    };
  }
  if (extras.hyperparametersExpression) {
    delete out.HyperParameters;
    out['HyperParameters.$'] = extras.hyperparametersExpression;
  }
  return out;
}

/** SageMakerCreateTrainingJob (JSONPath) plus spot, checkpoints, warm pools and merged hyperparameters. */
export class TrainingJobTask extends tasks.SageMakerCreateTrainingJob {
  private readonly extras: TrainingJobExtras;

  constructor(scope: Construct, id: string, props: TrainingJobTaskProps) {
    const { extras, ...rest } = props;
    super(scope, id, rest);
    this.extras = extras ?? {};
  }

  /** @internal CDK's rendering, then the extras on its Parameters. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the signature of the CDK method it overrides
  protected _renderTask(topLevelQueryLanguage?: sfn.QueryLanguage): any {
    const rendered = super._renderTask(topLevelQueryLanguage) as Record<string, unknown>;
    const parameters = rendered.Parameters as Record<string, unknown> | undefined;
    if (!parameters) {
      throw new Error('TrainingJobTask supports JSONPath states only (its extras are added to the state Parameters).');
    }
    return { ...rendered, Parameters: renderTrainingJobExtras(parameters, this.extras) };
  }
}
