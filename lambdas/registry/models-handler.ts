/**
 * Lambda entry of the registry's admin function: what `mloop models promote|rollback|history|
 * lineage|approve|reject|tag|archive` runs (locally the CLI invokes it in-process, as on AWS it would invoke the
 * function). Errors are named (VersionNotFound, AliasNotFound, AliasConflict, ModelNotFound,
 * InvalidInput...) with a one-line message.
 */
import { loadEnv, modelsEnv } from '../shared/env';
import { InvalidInput } from '../shared/errors';
import { logger } from '../shared/observability';
import { Registry } from '../shared/registry';
import { aliasHistory, lineage, promote, rollback, type AliasChange, type AliasHistory, type Lineage } from './aliases';
import { decideApproval, type ApprovalDecision } from './approval';
import { archiveVersion, tagVersion, type VersionArchive, type VersionTags } from './versions';

const env = loadEnv(modelsEnv);

export type ModelsRequest =
  | {
      readonly action: 'promote';
      readonly model: string;
      readonly version: number;
      readonly alias?: string;
      readonly reason?: string;
      readonly by: string;
    }
  | {
      readonly action: 'rollback';
      readonly model: string;
      readonly version?: number;
      readonly alias?: string;
      readonly reason?: string;
      readonly by: string;
    }
  | { readonly action: 'history'; readonly model: string; readonly alias?: string }
  | { readonly action: 'lineage'; readonly model: string; readonly version: number }
  | {
      readonly action: 'approve' | 'reject';
      readonly model: string;
      readonly version: number;
      readonly reason: string;
      readonly by: string;
    }
  | {
      readonly action: 'tag';
      readonly model: string;
      readonly version: number;
      readonly tags?: Record<string, string>;
      readonly untag?: string[];
      readonly by: string;
    }
  | { readonly action: 'archive'; readonly model: string; readonly version: number; readonly reason?: string; readonly by: string };

export type ModelsResponse = AliasChange | AliasHistory | Lineage | ApprovalDecision | VersionTags | VersionArchive;

export async function handler(event: ModelsRequest): Promise<ModelsResponse> {
  const registry = new Registry(env.REGISTRY_TABLE);
  const targets = { eventBusName: env.EVENT_BUS_NAME, topicArn: env.TOPIC_ARN };
  switch (event?.action) {
    case 'promote': {
      const out = await promote(registry, targets, event);
      logger.info('Alias promoted', { ...out });
      return out;
    }
    case 'rollback': {
      const out = await rollback(registry, targets, event);
      logger.info('Alias rolled back', { ...out });
      return out;
    }
    case 'history':
      return aliasHistory(registry, targets, event.model, event.alias);
    case 'lineage':
      return lineage(registry, event.model, event.version);
    case 'approve':
    case 'reject': {
      const out = await decideApproval(registry, targets, { ...event, decision: event.action === 'approve' ? 'approved' : 'rejected' });
      logger.info('Approval decided', { ...out });
      return out;
    }
    case 'tag': {
      const out = await tagVersion(registry, event);
      logger.info('Version tagged', { ...out, by: event.by });
      return out;
    }
    case 'archive': {
      const out = await archiveVersion(registry, targets, event);
      logger.info('Version archived', { ...out });
      return out;
    }
    default:
      throw new InvalidInput(
        `Unknown action '${String((event as { action?: unknown })?.action)}': expected promote, rollback, history, lineage, approve, reject, tag or archive.`,
      );
  }
}
