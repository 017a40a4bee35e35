/**
 * Lambda entry of the pipeline's Register states (promote or not, as the gate decided), and of the
 * manual-approval steps when the pipeline is configured for them (`stage`: await-approval,
 * promote-approved; see approval.ts). The event's `stage` tells them apart; Register's has none.
 */
import { z } from 'zod';
import { loadEnv, registerEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseEvent } from '../shared/parse-event';
import type { AwaitApprovalInput, PromoteApprovedInput, RegisterInput, RegisterOutput } from '../shared/pipeline';
import { Registry } from '../shared/registry/registry';
import { assertStatePayload } from '../shared/state-payload';
import { promoteApproved, requestApproval, type ApprovalRequested } from './approval';
import { register } from './register';
import { acceptedIngest, approvalOutput, evaluationOutput, modelName, positiveInteger, trainingOutput } from './stage-inputs';

const env = loadEnv(registerEnv);

/** "Register and promote", "Register without promotion", "Register (awaiting approval)" (lib/pipeline.ts, lib/approval.ts). */
const registerInput = z.looseObject({
  stage: z.undefined(),
  execution: z.string().min(1),
  promote: z.boolean(),
  awaitApproval: z.boolean().optional(),
  codeVersion: z.string(),
  ingest: acceptedIngest,
  training: trainingOutput,
  evaluation: evaluationOutput,
}) satisfies z.ZodType<RegisterInput>;

/** "Wait for approval" (lib/approval.ts): its task token, to be resumed by `mloop models approve|reject`. */
const awaitApprovalInput = z.looseObject({
  stage: z.literal('await-approval'),
  taskToken: z.string().min(1),
  execution: z.string().min(1),
  model: modelName,
  version: positiveInteger,
}) satisfies z.ZodType<AwaitApprovalInput>;

/** "Promote approved version" (lib/approval.ts). */
const promoteApprovedInput = z.looseObject({
  stage: z.literal('promote-approved'),
  execution: z.string().min(1),
  model: modelName,
  version: positiveInteger,
  evaluation: evaluationOutput,
  approval: approvalOutput,
}) satisfies z.ZodType<PromoteApprovedInput>;

export const registerEvent = z.discriminatedUnion('stage', [registerInput, awaitApprovalInput, promoteApprovedInput], {
  error: (issue) => (issue.code === 'invalid_union' ? "expected 'await-approval', 'promote-approved', or no stage (Register)" : undefined),
});

export async function handler(event: unknown): Promise<RegisterOutput | ApprovalRequested> {
  return assertStatePayload(await run(event), 'Register');
}

async function run(event: unknown): Promise<RegisterOutput | ApprovalRequested> {
  const input = parseEvent(registerEvent, event, 'Register input is invalid');
  switch (input.stage) {
    case 'await-approval': {
      const out = await requestApproval(new Registry(env.REGISTRY_TABLE), input);
      logger.info('Waiting for approval', { model: out.model, version: out.version });
      return out;
    }
    case 'promote-approved': {
      const out = await promoteApproved(
        new Registry(env.REGISTRY_TABLE),
        { eventBusName: env.EVENT_BUS_NAME, topicArn: env.TOPIC_ARN },
        input,
      );
      logger.info('Promoted approved model version', { model: out.model, version: out.modelVersion, promoted: out.promoted });
      return out;
    }
    case undefined: {
      const out = await register(input, env);
      logger.info('Registered model version', { model: out.model, version: out.modelVersion, promoted: out.promoted });
      return out;
    }
  }
}
