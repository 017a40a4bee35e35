/**
 * Lambda entry of the pipeline's Register states (promote or not, as the gate decided), and of the
 * manual-approval steps when the pipeline is configured for them (`stage`: await-approval,
 * promote-approved; see approval.ts).
 */
import { loadEnv, registerEnv } from '../shared/env';
import { logger } from '../shared/observability';
import type { AwaitApprovalInput, PromoteApprovedInput, RegisterInput, RegisterOutput } from '../shared/pipeline';
import { Registry } from '../shared/registry';
import { promoteApproved, requestApproval } from './approval';
import { register } from './register';

const env = loadEnv(registerEnv);

export async function handler(
  event: RegisterInput | AwaitApprovalInput | PromoteApprovedInput,
): Promise<RegisterOutput | { model: string; version: number; requestedAt: string }> {
  if ('stage' in event && event.stage === 'await-approval') {
    const out = await requestApproval(new Registry(env.REGISTRY_TABLE), event);
    logger.info('Waiting for approval', { model: out.model, version: out.version });
    return out;
  }
  if ('stage' in event && event.stage === 'promote-approved') {
    const out = await promoteApproved(
      new Registry(env.REGISTRY_TABLE),
      { eventBusName: env.EVENT_BUS_NAME, topicArn: env.TOPIC_ARN },
      event,
    );
    logger.info('Promoted approved model version', { model: out.model, version: out.modelVersion, promoted: out.promoted });
    return out;
  }
  const out = await register(event as RegisterInput, env);
  logger.info('Registered model version', { model: out.model, version: out.modelVersion, promoted: out.promoted });
  return out;
}
