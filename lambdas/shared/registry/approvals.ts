/**
 * Manual approvals, kept on the version item they concern (its `approval` attribute): the pipeline
 * attaches its task token to a version pending approval, and a person's decision replaces the
 * token, in one conditional write each.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { RegistryTable } from './table';

/** A manual approval of a version: requested by the pipeline, decided by a person. */
export interface ApprovalRecord {
  /** The Step Functions task token the pipeline waits on (absent once decided). */
  readonly taskToken?: string;
  readonly execution: string;
  readonly requestedAt: string;
  readonly decision?: 'approved' | 'rejected';
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly reason?: string;
}

export class ApprovalStore {
  constructor(private readonly table: RegistryTable) {}

  /**
   * Attach the pipeline's task token to a version that waits for approval. Fails (a condition
   * failure) unless the version is still pending-approval.
   */
  async request(model: string, version: number, approval: ApprovalRecord): Promise<void> {
    await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression: 'SET approval = :a',
        ConditionExpression: '#s = :pending',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':a': approval, ':pending': 'pending-approval' },
      }),
    );
  }

  /**
   * Decide a pending approval in one conditional write: the version must still be pending with
   * this task token, so of two concurrent decisions exactly one is recorded. Returns false when
   * the version was decided (or changed) first.
   */
  async decide(
    model: string,
    version: number,
    taskToken: string,
    decision: { decision: 'approved' | 'rejected'; decidedBy: string; decidedAt: string; reason: string },
  ): Promise<boolean> {
    return this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.version(version) },
        UpdateExpression:
          'SET #s = :decision, approval.decision = :decision, approval.decidedBy = :by, approval.decidedAt = :at, approval.reason = :reason REMOVE approval.taskToken',
        ConditionExpression: '#s = :pending AND approval.taskToken = :token',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':decision': decision.decision,
          ':by': decision.decidedBy,
          ':at': decision.decidedAt,
          ':reason': decision.reason,
          ':pending': 'pending-approval',
          ':token': taskToken,
        },
      }),
    );
  }
}
