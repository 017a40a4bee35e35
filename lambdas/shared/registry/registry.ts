/**
 * The model registry: one DynamoDB table, reached through one store per kind of item. A caller
 * holds a `Registry` and names the kind it reads or writes: `registry.datasets.get(model, 3)`,
 * `registry.aliases.moveWithHistory(...)`, `registry.leases.acquireTraining(...)`.
 */
import { AliasStore } from './aliases';
import { ApprovalStore } from './approvals';
import { ContentClaimStore } from './content-claims';
import { DatasetStore } from './datasets';
import { DriftRecordStore } from './drift-records';
import { LeaseStore } from './leases';
import { ModelStore } from './models';
import { RunStore } from './runs';
import { RegistryTable } from './table';
import { VersionStore } from './versions';

export class Registry {
  /** Each model's META item: counters, schema, the `byKind` listing. */
  readonly models: ModelStore;
  /** Which execution ingests which bytes, and which dataset version holds them. */
  readonly content: ContentClaimStore;
  readonly datasets: DatasetStore;
  /** Model versions: registration, the gate's decision, tags, archiving. */
  readonly versions: VersionStore;
  /** Manual approvals of versions. */
  readonly approvals: ApprovalStore;
  /** Aliases and their history. */
  readonly aliases: AliasStore;
  /** The training lease and the retraining lease (with its cooldown). */
  readonly leases: LeaseStore;
  /** Pipeline runs. */
  readonly runs: RunStore;
  /** Drift monitor runs and the drift watermark. */
  readonly drift: DriftRecordStore;

  constructor(tableName: string) {
    const table = new RegistryTable(tableName);
    this.models = new ModelStore(table);
    this.datasets = new DatasetStore(table);
    this.content = new ContentClaimStore(table, this.datasets);
    this.versions = new VersionStore(table, this.models);
    this.approvals = new ApprovalStore(table);
    this.aliases = new AliasStore(table);
    this.leases = new LeaseStore(table);
    this.runs = new RunStore(table);
    this.drift = new DriftRecordStore(table);
  }
}
