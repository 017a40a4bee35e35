/**
 * Content claims (`DATAHASH#<sha256>`): which execution ingests a file's bytes, and once ingested,
 * which dataset version holds them. The claim is what makes a second drop of the same bytes a
 * duplicate, and what hands an ingested version from one training run to the next.
 */
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { registryKeys as k } from '../layout';
import type { DatasetStore } from './datasets';
import { isConditionFailure, strip, type RegistryTable } from './table';

/**
 * A content hash's claim (`DATAHASH#<sha256>`): which execution ingested these bytes, and once
 * ingested, which dataset version holds them. `execution` then names the latest run that trains
 * on that version: a drop of the same bytes after every run on it failed hands the claim to the
 * new run (`adopt`), which keeps the one-run-at-a-time rule for each dataset version.
 */
export interface ContentClaim {
  readonly execution: string;
  readonly datasetVersion?: number;
  /** The dataset version number the ingestion took, before it finished (see `reserveVersion`). */
  readonly reservedVersion?: number;
  /** The dropped object's s3:// URI. */
  readonly source?: string;
  readonly claimedAt?: string;
  /** Earlier runs on this version, oldest first, each of which ended without a model version. */
  readonly previousExecutions?: string[];
}

export class ContentClaimStore {
  constructor(
    private readonly table: RegistryTable,
    private readonly datasets: DatasetStore,
  ) {}

  /**
   * Claim a content hash for an execution. Returns undefined when the claim is new, else the
   * existing claim: another execution's (a duplicate), or this execution's own (a retry).
   */
  async claim(model: string, sha256: string, execution: string, source?: string): Promise<ContentClaim | undefined> {
    try {
      await this.table.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { pk: k.pk(model), sk: k.dataHash(sha256), execution, claimedAt: new Date().toISOString(), ...(source ? { source } : {}) },
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    return this.table.get<ContentClaim & Record<string, unknown>>(model, k.dataHash(sha256));
  }

  /** Which dataset version holds these bytes, if any execution has ingested them. */
  async get(model: string, sha256: string): Promise<ContentClaim | undefined> {
    return this.table.get<ContentClaim & Record<string, unknown>>(model, k.dataHash(sha256));
  }

  /**
   * Record on this execution's claim the dataset version number its ingestion took, right after
   * taking it: should the ingestion never finish, the cleanup records that number as abandoned
   * instead of leaving a silent gap (see `releaseUnlinked`).
   */
  async reserveVersion(model: string, sha256: string, execution: string, version: number): Promise<void> {
    await this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        UpdateExpression: 'SET reservedVersion = :v',
        ConditionExpression: 'execution = :e',
        ExpressionAttributeValues: { ':v': version, ':e': execution },
      }),
    );
  }

  /**
   * Hand an ingested version's claim from the run that last trained on it (`from`, which ended
   * without a model version, or with one when the retraining is asked for) to `to`, in one
   * conditional write: of two runs adopting at once exactly one wins. Returns false when the
   * claim no longer names `from`.
   */
  async adopt(model: string, sha256: string, from: string, to: string): Promise<boolean> {
    return this.table.conditionally(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        UpdateExpression:
          'SET execution = :to, adoptedAt = :now, previousExecutions = list_append(if_not_exists(previousExecutions, :none), :from)',
        ConditionExpression: 'execution = :e AND attribute_exists(datasetVersion)',
        ExpressionAttributeValues: { ':to': to, ':now': new Date().toISOString(), ':none': [], ':from': [from], ':e': from },
      }),
    );
  }

  /**
   * Give up this execution's claim on some bytes (their dataset was rejected), so that the same
   * file can be dropped again once what rejected it changed (a target given, a threshold moved).
   */
  async release(model: string, sha256: string, execution: string): Promise<void> {
    await this.table.conditionally(
      new DeleteCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        ConditionExpression: 'execution = :e',
        ExpressionAttributeValues: { ':e': execution },
      }),
    );
  }

  /**
   * Release the content claims of an execution that no dataset version links (its ingestion never
   * finished), so that the same bytes can be ingested again. Answers the claims it released (with
   * the version number each had reserved, if it got that far).
   */
  async releaseUnlinked(model: string, execution: string): Promise<(ContentClaim & { sha256: string })[]> {
    const claims = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'execution = :e AND attribute_not_exists(datasetVersion)',
      ExpressionAttributeValues: { ':pk': k.pk(model), ':prefix': k.dataHash(''), ':e': execution },
      ProjectionExpression: 'sk, execution, reservedVersion, #source',
      ExpressionAttributeNames: { '#source': 'source' },
      ConsistentRead: true,
    });
    const released: (ContentClaim & { sha256: string })[] = [];
    for (const claim of claims) {
      const sk = String(claim.sk);
      const deleted = await this.table.conditionally(
        new DeleteCommand({
          TableName: this.table.name,
          Key: { pk: k.pk(model), sk },
          ConditionExpression: 'execution = :e AND attribute_not_exists(datasetVersion)',
          ExpressionAttributeValues: { ':e': execution },
        }),
      );
      if (deleted) released.push({ ...strip(claim as ContentClaim & Record<string, unknown>)!, sha256: sk.slice(k.dataHash('').length) });
    }
    return released;
  }

  /**
   * What an execution that ends without finishing its ingestion leaves: its unlinked content
   * claims are released (the same bytes can be dropped again), and each dataset version number it
   * had taken is recorded as `abandoned` with `reason`, so the numbers have no silent gap. Answers
   * how many claims it released. Idempotent.
   */
  async abandonUnfinishedIngest(model: string, execution: string, reason: string): Promise<number> {
    const released = await this.releaseUnlinked(model, execution);
    for (const claim of released) {
      if (claim.reservedVersion === undefined) continue;
      // Conditional on the number having no record yet: an accepted one (a crash between
      // recording the version and linking its bytes) or this abandonment's own repeat stays.
      await this.datasets.putIfAbsent({
        model,
        version: claim.reservedVersion,
        status: 'abandoned',
        sha256: claim.sha256,
        s3Uri: claim.source ?? '',
        bytes: 0,
        rows: 0,
        sourceEvent: { execution },
        reason,
        createdAt: new Date().toISOString(),
      });
    }
    return released.length;
  }

  /** Record which dataset version holds the claimed bytes (the ingestion finished). */
  async link(model: string, sha256: string, datasetVersion: number): Promise<void> {
    await this.table.send(
      new UpdateCommand({
        TableName: this.table.name,
        Key: { pk: k.pk(model), sk: k.dataHash(sha256) },
        UpdateExpression: 'SET datasetVersion = :v',
        ExpressionAttributeValues: { ':v': datasetVersion },
      }),
    );
  }
}
