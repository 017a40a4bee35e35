/**
 * The manual-approval branch of the training pipeline (`requireApproval`): its options and the
 * states that register a better candidate as pending-approval, wait on a task token for
 * `mloop models approve|reject`, and promote the approved version.
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { MODEL_REJECTED } from '../lambdas/shared/pipeline';
import { FUNCTIONS } from './function-catalog';
import { lambdaTask } from './lambda-task';
import type { MloopFunction } from './mloop-function';

/** How long a pipeline waits for a person by default. */
export const DEFAULT_APPROVAL_TIMEOUT = Duration.days(7);

/** Whether promotions wait for a person: the approval part of `MloopStackProps.training`. */
export interface ApprovalOptions {
  /**
   * Wait for a person before promoting: a better candidate is registered as pending-approval and
   * the pipeline waits on a task token until `mloop models approve|reject` (lib/approval.ts).
   * @default false (the gate promotes on its own)
   */
  readonly requireApproval?: boolean;
  /**
   * How long the pipeline waits for an approval before it fails.
   * @default Duration.days(7)
   */
  readonly approvalTimeout?: Duration;
}

export interface ApprovalStepsProps {
  readonly register: MloopFunction<'register'>;
  readonly codeVersion: string;
  /** Where every failure goes (the pipeline's "Record failure"). */
  readonly onFailure: sfn.IChainable;
  /** Where an approved, promoted version goes. */
  readonly done: sfn.IChainable;
  readonly timeout: Duration;
}

/**
 * The manual-approval branch of the training pipeline (ApprovalOptions.requireApproval),
 * taken when the gate says the candidate is better:
 *
 *   Register (awaiting approval) λ ─► Wait for approval (λ .waitForTaskToken) ─► Promote approved version λ
 *                                          └─ ModelRejected ─► Rejected by reviewer (Succeed)
 *
 * The register function stores the version as pending-approval, then the task token on it;
 * `mloop models approve|reject` resumes the task (lambdas/registry/approval.ts).
 */
export function approvalSteps(scope: Construct, props: ApprovalStepsProps): { start: sfn.IChainable; tasks: sfn.TaskStateBase[] } {
  const execution = sfn.JsonPath.stringAt('$$.Execution.Name');
  const stage = sfn.Timeout.duration(Duration.seconds(FUNCTIONS.register.timeoutSeconds + 30));
  const registerPending = lambdaTask(scope, 'Register (awaiting approval)', {
    lambdaFunction: props.register,
    payloadResponseOnly: true,
    taskTimeout: stage,
    payload: sfn.TaskInput.fromObject({
      execution,
      promote: true,
      awaitApproval: true,
      codeVersion: props.codeVersion,
      ingest: sfn.JsonPath.objectAt('$.ingest'),
      training: sfn.JsonPath.objectAt('$.training'),
      evaluation: sfn.JsonPath.objectAt('$.evaluation'),
    }),
    resultPath: '$.registration',
  });
  const wait = lambdaTask(scope, 'Wait for approval', {
    lambdaFunction: props.register,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    taskTimeout: sfn.Timeout.duration(props.timeout),
    payload: sfn.TaskInput.fromObject({
      stage: 'await-approval',
      taskToken: sfn.JsonPath.taskToken,
      execution,
      model: sfn.JsonPath.stringAt('$.ingest.model'),
      version: sfn.JsonPath.numberAt('$.registration.modelVersion'),
    }),
    resultPath: '$.approval',
  });
  const promoteApproved = lambdaTask(scope, 'Promote approved version', {
    lambdaFunction: props.register,
    payloadResponseOnly: true,
    taskTimeout: stage,
    payload: sfn.TaskInput.fromObject({
      stage: 'promote-approved',
      execution,
      model: sfn.JsonPath.stringAt('$.ingest.model'),
      version: sfn.JsonPath.numberAt('$.registration.modelVersion'),
      evaluation: sfn.JsonPath.objectAt('$.evaluation'),
      approval: sfn.JsonPath.objectAt('$.approval'),
    }),
    resultPath: '$.registration',
  });
  wait.addCatch(new sfn.Succeed(scope, 'Rejected by reviewer'), { errors: [MODEL_REJECTED], resultPath: '$.rejection' });
  for (const task of [registerPending, wait, promoteApproved])
    task.addCatch(props.onFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  return { start: registerPending.next(wait).next(promoteApproved).next(props.done), tasks: [registerPending, wait, promoteApproved] };
}
