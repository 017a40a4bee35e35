/**
 * Lambda entry of the registry's admin function: what `mloop models promote|rollback|history|
 * lineage|approve|reject|tag|archive` runs (locally the CLI invokes it in-process, as on AWS it would invoke the
 * function). Errors are named (VersionNotFound, AliasNotFound, AliasConflict, ModelNotFound,
 * InvalidInput...) with a one-line message.
 */
import { z } from 'zod';
import { loadEnv, modelsEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseEvent } from '../shared/parse-event';
import { Registry } from '../shared/registry/registry';
import { aliasHistory, promote, rollback, type AliasChange, type AliasHistory } from './aliases';
import { decideApproval, type ApprovalDecision } from './approval';
import { lineage, type Lineage } from './lineage';
import { archiveVersion, tagVersion, type VersionArchive, type VersionTags } from './versions';

const env = loadEnv(modelsEnv);

const model = z.string();
const version = z.number();
const text = z.string().optional();
const by = z.string();

/**
 * What `mloop models ...` sends (bin/commands/models.ts). Types are checked here; what the values
 * may be (a model name, a positive version, a tag key, a non-empty reason) is checked by the
 * action itself, whose messages name the CLI flag to fix.
 */
export const modelsRequest = z.discriminatedUnion(
  'action',
  [
    z.object({ action: z.literal('promote'), model, version, alias: text, reason: text, by }),
    z.object({ action: z.literal('rollback'), model, version: version.optional(), alias: text, reason: text, by }),
    z.object({ action: z.literal('history'), model, alias: text }),
    z.object({ action: z.literal('lineage'), model, version }),
    z.object({ action: z.enum(['approve', 'reject']), model, version, reason: z.string(), by }),
    z.object({
      action: z.literal('tag'),
      model,
      version,
      tags: z.record(z.string(), z.string()).optional(),
      untag: z.array(z.string()).optional(),
      by,
    }),
    z.object({ action: z.literal('archive'), model, version, reason: text, by }),
  ],
  // An unknown action names the known ones; anything else (not an object at all) keeps zod's message.
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? 'expected promote, rollback, history, lineage, approve, reject, tag or archive' : undefined,
  },
);

export type ModelsRequest = z.input<typeof modelsRequest>;

export type ModelsResponse = AliasChange | AliasHistory | Lineage | ApprovalDecision | VersionTags | VersionArchive;

export async function handler(event: unknown): Promise<ModelsResponse> {
  const request = parseEvent(modelsRequest, event, 'Models request is invalid');
  const registry = new Registry(env.REGISTRY_TABLE);
  const targets = { eventBusName: env.EVENT_BUS_NAME, topicArn: env.TOPIC_ARN };
  switch (request.action) {
    case 'promote': {
      const out = await promote(registry, targets, request);
      logger.info('Alias promoted', { ...out });
      return out;
    }
    case 'rollback': {
      const out = await rollback(registry, targets, request);
      logger.info('Alias rolled back', { ...out });
      return out;
    }
    case 'history':
      return aliasHistory(registry, targets, request.model, request.alias);
    case 'lineage':
      return lineage(registry, request.model, request.version);
    case 'approve':
    case 'reject': {
      const out = await decideApproval(registry, targets, { ...request, decision: request.action === 'approve' ? 'approved' : 'rejected' });
      logger.info('Approval decided', { ...out });
      return out;
    }
    case 'tag': {
      const out = await tagVersion(registry, request);
      logger.info('Version tagged', { ...out, by: request.by });
      return out;
    }
    case 'archive': {
      const out = await archiveVersion(registry, targets, request);
      logger.info('Version archived', { ...out });
      return out;
    }
  }
}
