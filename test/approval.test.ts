/**
 * Manual approval through the real pipeline on the local runtime: the stack synthesized with
 * `mloop:requireApproval` (as `cdk deploy -c mloop:requireApproval=true` would deploy it), a
 * dataset dropped, the execution waiting on its task token until the admin function approves or
 * rejects the version (what `mloop models approve|reject` invokes).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../lambdas/shared/clients';
import { s3Keys } from '../lambdas/shared/layout';
import type { RegisterOutput } from '../lambdas/shared/pipeline';
import type { ModelVersionRecord } from '../lambdas/shared/registry/versions';
import type { ApprovalDecision } from '../lambdas/registry/approval';
import { TARGET_METADATA_KEY } from '../lambdas/data/ingest';
import type { ExecutionResult } from '../local/cloud';
import { readLocalEvents } from '../local/events-journal';
import { churnRows, toCsv } from '../local/demo-data';
import { startCloud, stopCloud, type TestCloud } from './helpers/cloud';

jest.setTimeout(300_000);

let t: TestCloud;
let savedContext: string | undefined;

beforeAll(async () => {
  savedContext = process.env.CDK_CONTEXT_JSON;
  process.env.CDK_CONTEXT_JSON = JSON.stringify({ 'mloop:requireApproval': true });
  t = await startCloud();
}, 120_000);

afterAll(async () => {
  if (savedContext === undefined) delete process.env.CDK_CONTEXT_JSON;
  else process.env.CDK_CONTEXT_JSON = savedContext;
  await stopCloud(t);
}, 60_000);

/** Drop a dataset; resolve with the execution (still running) and its eventual result. */
async function drop(model: string, seed: number): Promise<{ execution: string; result: Promise<ExecutionResult> }> {
  const key = s3Keys.dataset(model, `${model}.csv`);
  const started = t.cloud.nextExecutionFor(key);
  await s3Client().send(
    new PutObjectCommand({
      Bucket: t.cloud.dataBucket,
      Key: key,
      Body: toCsv(churnRows({ rows: 800, seed })),
      Metadata: { [TARGET_METADATA_KEY]: 'churned' },
    }),
  );
  const execution = await started;
  return { execution, result: t.cloud.execution(execution) };
}

/** Wait until the pipeline has handed its task token to version 1 of `model`. */
async function waitingVersion(model: string, result: Promise<ExecutionResult>): Promise<ModelVersionRecord> {
  let settled: ExecutionResult | undefined;
  void result.then((r) => (settled = r));
  for (let i = 0; i < 2400; i++) {
    const record = await t.registry.versions.get(model, 1);
    if (record?.approval?.taskToken) return record;
    if (settled) throw new Error(`The pipeline ended instead of waiting: ${JSON.stringify(settled)}\n${t.logs.slice(-20).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('The pipeline never asked for approval.');
}

const decide = (action: 'approve' | 'reject', model: string, reason: string) =>
  t.cloud.invoke('models', { action, model, version: 1, reason, by: 'user:reviewer' }) as Promise<ApprovalDecision>;

describe('a pipeline that requires approval', () => {
  it('waits with the version pending and the champion untouched; approve resumes it and the version is promoted', async () => {
    const model = 'approve-me';
    const { execution, result } = await drop(model, 11);
    const pending = await waitingVersion(model, result);
    expect(pending).toMatchObject({
      status: 'pending-approval',
      promoted: false,
      approval: { execution, requestedAt: expect.any(String) },
    });
    expect(await t.registry.aliases.get(model, 'champion')).toBeUndefined();
    expect(t.logs).toContain('[Wait for approval] waiting for its task token');

    const decision = await decide('approve', model, 'metrics reviewed');
    expect(decision).toMatchObject({ decision: 'approved', execution, resumed: true });

    const done = await result;
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output?.approval).toMatchObject({ decision: 'approved', by: 'user:reviewer', reason: 'metrics reviewed' });
    expect(done.output?.registration as RegisterOutput).toMatchObject({ modelVersion: 1, promoted: true });
    expect(await t.registry.aliases.get(model, 'champion')).toMatchObject({
      version: 1,
      updatedBy: `pipeline:${execution}`,
      reason: expect.stringMatching(/Approved by user:reviewer: metrics reviewed$/),
    });
    expect(await t.registry.versions.get(model, 1)).toMatchObject({
      status: 'approved',
      promoted: true,
      approval: { decision: 'approved', decidedBy: 'user:reviewer' },
    });
    expect(await t.registry.runs.get(model, execution)).toMatchObject({ status: 'SUCCEEDED', promoted: true, modelVersion: 1 });

    const events = readLocalEvents(t.cloud.eventsJournal).flatMap((l) =>
      l.kind === 'eventbridge' && (l.event.detail as { model: string }).model === model
        ? [[l.event['detail-type'], (l.event.detail as { status?: string }).status ?? null]]
        : [],
    );
    expect(events).toEqual([
      ['Model Version Registered', 'pending-approval'],
      ['Model Version Registered', 'approved'],
      ['Model Alias Changed', null],
    ]);
  });

  it('reject ends the pipeline without promoting: the version is rejected and no champion is set', async () => {
    const model = 'reject-me';
    const { execution, result } = await drop(model, 12);
    await waitingVersion(model, result);
    const decision = await decide('reject', model, 'fails the fairness review');
    expect(decision).toMatchObject({ decision: 'rejected', resumed: true });

    const done = await result;
    expect(done.status).toBe('SUCCEEDED');
    expect(done.output?.rejection).toEqual({
      Error: 'ModelRejected',
      Cause: 'Version 1 of reject-me was rejected by user:reviewer: fails the fairness review',
    });
    expect(done.output?.registration as RegisterOutput).toMatchObject({ modelVersion: 1, promoted: false });
    expect(await t.registry.aliases.get(model, 'champion')).toBeUndefined();
    expect(await t.registry.versions.get(model, 1)).toMatchObject({ status: 'rejected', promoted: false });
    expect(await t.registry.runs.get(model, execution)).toMatchObject({
      status: 'SUCCEEDED',
      promoted: false,
      reason: 'Rejected by user:reviewer: fails the fairness review',
    });
    // Decided once: a second decision is refused.
    await expect(decide('approve', model, 'changed my mind')).rejects.toThrow(
      "Version 1 of model 'reject-me' is not waiting for approval: it is rejected.",
    );
  });
});
