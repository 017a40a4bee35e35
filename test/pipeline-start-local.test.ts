/**
 * The pipeline's starter on the local runtime, on the same path as on AWS: an S3 event matches
 * the dataset rule, the rule invokes the starter's handler, and the starter's SDK call reaches the
 * local Step Functions API, which starts the state machine under the object version's name. One
 * object version delivered several times starts one execution; the other deliveries answer
 * DUPLICATE_EVENT. Execution names stay unique across processes sharing a home.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DescribeExecutionCommand, ExecutionAlreadyExists, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { s3Client, sfnClient } from '../lambdas/shared/clients';
import { s3Keys } from '../lambdas/shared/layout';
import { logger } from '../lambdas/shared/observability';
import { TARGET_METADATA_KEY } from '../lambdas/data/ingest';
import { executionArnOf, executionName, type ObjectCreatedEvent, type StartResult } from '../lambdas/pipeline/start';
import type { Delivery, LocalCloud } from '../local/cloud';
import { LocalTarget, localTarget } from '../bin/local-target';
import { AwsTarget } from '../bin/stack/aws-target';
import { connectStack } from '../bin/stack/deployed-stack';
import type { EventBridgeEvent } from '../local/events';
import { ExecutionLedger } from '../local/executions';
import { binaryClassificationCsv } from './helpers/datasets';
import { startCloud, stopCloud, tempDir, type TestCloud } from './helpers/cloud';
import { Sha256 } from '@aws-crypto/sha256-js';
import { once } from './helpers/once';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');

let t: TestCloud;
let stateMachineArn: string;

beforeAll(async () => {
  t = await startCloud();
  stateMachineArn = t.cloud.template.stateMachines[0].arn;
});

afterAll(async () => {
  await stopCloud(t);
}, 60_000);

async function describeExecution(executionArn: string) {
  return sfnClient().send(new DescribeExecutionCommand({ executionArn }));
}

/** Put a dataset (label target) and wait for the name of the execution its event starts. */
async function drop(model: string, fileName: string, seed: number): Promise<string> {
  const key = s3Keys.dataset(model, fileName);
  const started = t.cloud.nextExecutionFor(key);
  await s3Client().send(
    new PutObjectCommand({
      Bucket: t.cloud.dataBucket,
      Key: key,
      Body: binaryClassificationCsv(200, seed),
      Metadata: { [TARGET_METADATA_KEY]: 'label' },
    }),
  );
  return started;
}

/** The local stack as the CLI finds it: DescribeStacks at the home's edge. */
function localStack(): ReturnType<typeof connectStack> {
  return connectStack(
    { stack: t.cloud.localStack.name, region: t.cloud.region },
    { endpoint: t.cloud.awsEndpoint, credentials: t.cloud.credentials },
  );
}

/** The one target result of an event delivered to the dataset rule. */
function starterResult(deliveries: Delivery[]): StartResult {
  expect(deliveries.map((d) => [d.status, d.target])).toEqual([
    ['DELIVERED', t.cloud.template.functions.find((f) => f.functionId === 'startPipeline')!.arn],
  ]);
  return (deliveries[0] as Extract<Delivery, { status: 'DELIVERED' }>).result as StartResult;
}

describe('a dropped dataset', () => {
  const MODEL = 'starter-once';
  let name: string;

  beforeAll(async () => {
    name = await drop(MODEL, 'data.csv', 7);
  });

  test('starts one execution named after its object version, with the S3 event as its input', async () => {
    const execution = await describeExecution(executionArnOf(stateMachineArn, name));
    const event = JSON.parse(execution.input!) as ObjectCreatedEvent;
    expect(event).toMatchObject({
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { bucket: { name: t.cloud.dataBucket }, object: { key: `datasets/${MODEL}/data.csv` } },
    });
    expect(name).toBe(executionName(event.detail));
    expect(name).toMatch(new RegExp(`^${MODEL}-[0-9a-f]{32}$`));
  });

  test('runs the pipeline as before: the execution trains and registers the model', async () => {
    const result = await t.cloud.execution(name);
    expect(result.status).toBe('SUCCEEDED');
    expect((await t.registry.runs.get(MODEL, name))?.status).toBe('SUCCEEDED');
    expect((await describeExecution(executionArnOf(stateMachineArn, name))).status).toBe('SUCCEEDED');
  });

  test('dropped again with the same bytes starts a second execution (a new write is a new object version)', async () => {
    await t.cloud.execution(name); // the first write's execution has ended: its dataset version is 1
    const again = await drop(MODEL, 'data.csv', 7);
    expect(again).not.toBe(name);
    // The content hash then answers DUPLICATE: no second dataset version and no training.
    expect((await t.cloud.execution(again)).output?.ingest).toMatchObject({ status: 'DUPLICATE', datasetVersion: 1 });
  });
});

describe("two drops of the same bytes at the same key at the same moment, through the CLI's target", () => {
  test("each follows its own execution: the S3 event's request-id is the PutObject's x-amz-request-id", async () => {
    const target = await localTarget(t.cloud);
    const key = s3Keys.dataset('starter-race', 'data.csv');
    const body = Buffer.from(binaryClassificationCsv(50, 3));
    // The executions wait for the training slot (held here), so all are RUNNING while the drops look for them.
    expect(await t.registry.leases.acquireTraining('starter-race', 'another-run', 3600)).toBe(true);
    try {
      const names = await Promise.all([0, 1, 2].map(() => target.dropDataset(key, body, { [TARGET_METADATA_KEY]: 'label' })));
      expect(new Set(names).size).toBe(3);
      for (const name of names) {
        const input = JSON.parse((await describeExecution(executionArnOf(stateMachineArn, name))).input!) as EventBridgeEvent;
        expect(input.detail['request-id']).toMatch(/^[0-9A-F]{16}$/);
      }
    } finally {
      await t.registry.leases.releaseTraining('starter-race', 'another-run');
    }
  });
});

describe('a drop on a busy stack', () => {
  test('is found however many executions started between its own and its first search: ListExecutions is read page after page', async () => {
    const stack = await localStack();
    // Pages of 5 executions, and 12 others started after this drop's and before its search: the
    // drop's is on the third page.
    const target = new AwsTarget(stack, { log: () => {}, processClients: true, followStates: false, listPageSize: 5 });
    const key = s3Keys.dataset('starter-busy', 'data.csv');
    const mine = t.cloud.nextExecutionFor(key);
    const pages: number[] = [];
    const seam = target as unknown as { call<T>(action: string, send: () => Promise<T>): Promise<T> };
    const call = seam.call.bind(target);
    let crowded = false;
    seam.call = async <T>(action: string, send: () => Promise<T>): Promise<T> => {
      if (action === 'states:ListExecutions') {
        if (!crowded) {
          crowded = true;
          await mine; // this drop's execution has started...
          // ...then 12 others (retraining a model that does not exist: each fails at once).
          for (let i = 0; i < 12; i++) {
            t.cloud.startExecution(stateMachineArn, { detail: { retrain: { model: 'starter-busy-none' } } }, `starter-busy-other-${i}`);
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        }
        pages.push(pages.length + 1);
      }
      return call(action, send);
    };
    expect(await t.registry.leases.acquireTraining('starter-busy', 'another-run', 3600)).toBe(true);
    try {
      const name = await target.dropDataset(key, Buffer.from(binaryClassificationCsv(50, 5)), { [TARGET_METADATA_KEY]: 'label' });
      expect(name).toBe(await mine);
      expect(pages.length).toBeGreaterThanOrEqual(3);
    } finally {
      await t.registry.leases.releaseTraining('starter-busy', 'another-run');
    }
  });
});

describe('one object version delivered more than once', () => {
  const MODEL = 'starter-twice';
  /** Who holds the model's training slot while the test redelivers, so that the execution keeps running. */
  const HOLDER = 'another-run';
  let name: string;
  let event: EventBridgeEvent;
  let infoSpy: jest.SpyInstance;
  let metricSpy: jest.SpyInstance;

  beforeAll(async () => {
    // The execution waits in 'Wait for training slot' until the slot is given back: it is
    // RUNNING for as long as the redeliveries below need, however fast the machine.
    expect(await t.registry.leases.acquireTraining(MODEL, HOLDER, 3600)).toBe(true);
    name = await drop(MODEL, 'data.csv', 8);
    event = JSON.parse((await describeExecution(executionArnOf(stateMachineArn, name))).input!) as EventBridgeEvent;
    infoSpy = jest.spyOn(logger, 'info');
    metricSpy = jest.spyOn(Metrics.prototype, 'addMetric');
  });

  afterAll(async () => {
    infoSpy.mockRestore();
    metricSpy.mockRestore();
    // When the test that gives the slot back did not run (another run alone), give it back here and
    // let the execution end, so that the cloud can stop (it waits for running executions).
    await t.registry.leases.releaseTraining(MODEL, HOLDER);
    if (name) await t.cloud.execution(name);
  }, 60_000);

  /**
   * The deliveries of the describe, each made once by whichever test asks first. The one while the
   * execution runs must come before the one that ends it (the slot given back), so the latter asks
   * for the former first.
   */
  const sameEventWhileRunning = once(async () => {
    const statusBefore = (await describeExecution(executionArnOf(stateMachineArn, name))).status;
    // The starter tells a returned execution from a new one by its start date, at millisecond
    // precision: let the clock pass the start first (a real redelivery comes later than that).
    const startDate = (await describeExecution(executionArnOf(stateMachineArn, name))).startDate!.getTime();
    while (Date.now() <= startDate) await new Promise((resolve) => setTimeout(resolve, 1));
    return { statusBefore, deliveries: await t.cloud.publish(event) };
  });
  const resentEvent = once(async () => t.cloud.publish({ ...event, id: randomUUID() }));
  const sameEventAfterEnd = once(async () => {
    await sameEventWhileRunning();
    await t.registry.leases.releaseTraining(MODEL, HOLDER);
    const ended = await t.cloud.execution(name);
    return { ended, deliveries: await t.cloud.publish(event) };
  });

  test('the same event while its execution runs answers DUPLICATE_EVENT (Step Functions returns that execution again)', async () => {
    const { statusBefore, deliveries } = await sameEventWhileRunning();
    expect(statusBefore).toBe('RUNNING');
    const result = starterResult(deliveries);
    expect(result).toMatchObject({
      status: 'DUPLICATE_EVENT',
      executionName: name,
      answer: 'SameExecutionReturned',
      executionArn: executionArnOf(stateMachineArn, name),
    });
  });

  test('is logged at info with the execution name and counted as DuplicateEvents', async () => {
    await sameEventWhileRunning(); // the delivery logged and counted
    expect(infoSpy).toHaveBeenCalledWith(
      'Duplicate delivery of a dataset event: its object version already has an execution',
      expect.objectContaining({ executionName: name, key: `datasets/${MODEL}/data.csv`, eventId: event.id }),
    );
    expect(metricSpy).toHaveBeenCalledWith('DuplicateEvents', 'Count', 1);
  });

  test('the event sent again by S3 (another event id) answers DUPLICATE_EVENT with ExecutionAlreadyExists', async () => {
    const result = starterResult(await resentEvent());
    expect(result).toMatchObject({ status: 'DUPLICATE_EVENT', executionName: name, answer: 'ExecutionAlreadyExists' });
  });

  test('the same event after its execution ended answers DUPLICATE_EVENT with ExecutionAlreadyExists', async () => {
    const { ended, deliveries } = await sameEventAfterEnd();
    expect(ended.status).toBe('SUCCEEDED');
    const result = starterResult(deliveries);
    expect(result).toMatchObject({ status: 'DUPLICATE_EVENT', executionName: name, answer: 'ExecutionAlreadyExists' });
  });

  test('and all of it made one execution: one run, one dataset version, one model version', async () => {
    // All of it: the three deliveries of the tests above, whichever ran.
    await sameEventWhileRunning();
    await resentEvent();
    await sameEventAfterEnd();
    const executions = (await t.cloud.settle()).filter((r) => r.execution.startsWith(`${MODEL}-`));
    expect(executions.map((r) => [r.execution, r.status])).toEqual([[name, 'SUCCEEDED']]);
    expect((await t.registry.datasets.list(MODEL)).map((d) => d.version)).toEqual([1]);
    expect((await t.registry.versions.list(MODEL)).map((v) => v.version)).toEqual([1]);
    expect(await t.registry.runs.get(MODEL, name)).toMatchObject({ status: 'SUCCEEDED', modelVersion: 1 });
  });
});

describe('the starter on a bad event', () => {
  test('refuses an event that is not an S3 Object Created event, naming the field', async () => {
    await expect(
      t.cloud.invoke('startPipeline', {
        id: 'x',
        time: '2025-01-01T00:00:00Z',
        source: 'aws.s3',
        'detail-type': 'Object Deleted',
        detail: {},
      }),
    ).rejects.toThrow(
      'The pipeline starter takes S3 "Object Created" events from EventBridge: detail-type: expected "Object Created"; detail.bucket: expected object, received undefined; detail.object: expected object, received undefined.',
    );
  });

  test("a drop through the CLI's target fails at once with the reason its event started nothing, instead of waiting for an execution", async () => {
    const key = s3Keys.dataset('undelivered', 'data.csv');
    const reason = `The event for ${key} started no execution: rule R could not deliver it to T: the starter failed`;
    // The owner's bus tells why a key's event started nothing (here as if the starter had failed for this key).
    const cloud = Object.create(t.cloud, {
      nextExecutionFor: { value: (k: string) => (k === key ? Promise.reject(new Error(reason)) : t.cloud.nextExecutionFor(k)) },
    }) as LocalCloud;
    const stack = await localStack();
    const target = new LocalTarget(cloud, stack);
    await expect(target.dropDataset(key, Buffer.from('a,b\n1,2\n'), {})).rejects.toThrow(reason);
  });

  test('fails the delivery of an event it cannot name, and whoever waits for its key hears why', async () => {
    const key = s3Keys.dataset('starter-bad', 'data.csv');
    const waiting = t.cloud.nextExecutionFor(key);
    const deliveries = await t.cloud.publish({
      version: '0',
      id: randomUUID(),
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: '000000000000',
      time: '2025-01-01T00:00:00Z',
      region: 'us-east-1',
      resources: [],
      detail: { bucket: { name: t.cloud.dataBucket }, object: { key, etag: 'abc' } },
    });
    const reason = `The Object Created event for s3://${t.cloud.dataBucket}/${key} has neither a version-id nor a sequencer, so a repeated delivery of it could not be told from a new write; S3 always sends the sequencer.`;
    expect(deliveries).toEqual([expect.objectContaining({ status: 'FAILED', error: reason })]);
    await expect(waiting).rejects.toThrow(`The event for ${key} started no execution: rule `);
    await expect(waiting).rejects.toThrow(reason);
  });
});

describe('the local Step Functions API', () => {
  /** A raw call, signed with the home's credentials as the SDK signs (the body hashed; the endpoint verifies the signature). */
  const call = async (operation: string, body: unknown) => {
    const url = new URL(process.env.MLOOP_SFN_ENDPOINT!);
    const text = JSON.stringify(body);
    const signer = new SignatureV4({ service: 'states', region: 'us-east-1', credentials: t.cloud.credentials, sha256: Sha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AWSStepFunctions.${operation}` },
      body: text,
    });
    return fetch(url, { method: 'POST', headers: signed.headers, body: text });
  };

  test('is the endpoint the home advertises to attached processes', () => {
    const runtime = JSON.parse(fs.readFileSync(path.join(t.home, 'runtime.json'), 'utf8')) as { sfnEndpoint?: string };
    expect(runtime.sfnEndpoint).toBe(process.env.MLOOP_SFN_ENDPOINT);
    expect(runtime.sfnEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('answers a name taken before with HTTP 400 and __type ExecutionAlreadyExists, as AWS does', async () => {
    const name = `taken-${randomUUID()}`;
    const first = await call('StartExecution', { stateMachineArn, name, input: '{"not":"an event"}' });
    expect(first.status).toBe(200);
    const started = (await first.json()) as { executionArn: string; startDate: number };
    expect(started.executionArn).toBe(executionArnOf(stateMachineArn, name));
    expect(typeof started.startDate).toBe('number');

    const second = await call('StartExecution', { stateMachineArn, name, input: '{"another":"input"}' });
    expect(second.status).toBe(400);
    expect(await second.json()).toEqual({
      __type: 'ExecutionAlreadyExists',
      message: `Execution Already Exists: '${executionArnOf(stateMachineArn, name)}'`,
    });
    // (That execution fails at Ingest: its input is no S3 event. Wait for it, so that it ends here.)
    expect((await t.cloud.execution(name)).status).toBe('FAILED');
  });

  test('answers through the SDK: ExecutionAlreadyExists and StateMachineDoesNotExist are the SDK errors', async () => {
    const name = `sdk-${randomUUID()}`;
    await sfnClient().send(new StartExecutionCommand({ stateMachineArn, name, input: '{}' }));
    await expect(sfnClient().send(new StartExecutionCommand({ stateMachineArn, name, input: '{"x":1}' }))).rejects.toBeInstanceOf(
      ExecutionAlreadyExists,
    );
    const missing = stateMachineArn.replace(/[^:]+$/, 'NoSuchMachine');
    await expect(sfnClient().send(new StartExecutionCommand({ stateMachineArn: missing, input: '{}' }))).rejects.toBeInstanceOf(
      StateMachineDoesNotExist,
    );
    expect((await t.cloud.execution(name)).status).toBe('FAILED');
  });

  test('refuses input that is not JSON, an unknown execution and an operation it does not serve, each with its error type', async () => {
    const bad = await call('StartExecution', { stateMachineArn, name: `bad-${randomUUID()}`, input: '{oops' });
    expect([bad.status, ((await bad.json()) as { __type: string }).__type]).toEqual([400, 'InvalidExecutionInput']);
    const unknown = await call('DescribeExecution', { executionArn: executionArnOf(stateMachineArn, 'never-started') });
    expect([unknown.status, await unknown.json()]).toEqual([
      400,
      { __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${executionArnOf(stateMachineArn, 'never-started')}'` },
    ]);
    const other = await call('StopExecution', { executionArn: executionArnOf(stateMachineArn, 'never-started') });
    expect([other.status, ((await other.json()) as { __type: string }).__type]).toEqual([400, 'UnknownOperationException']);
  });
});

describe('execution names on a home shared by processes', () => {
  const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:Shared';
  const COUNT = 300;

  /** A process that claims race-0 .. race-(COUNT-1) from `at` on, and prints the numbers it got. */
  function claimer(dir: string, at: number): Promise<number[]> {
    const script = `
      const { ExecutionLedger } = require(${JSON.stringify(path.join(ROOT, 'local', 'executions.ts'))});
      const ledger = new ExecutionLedger(${JSON.stringify(dir)});
      while (Date.now() < ${at}) {} // both processes start claiming at the same moment
      const won = [];
      for (let i = 0; i < ${COUNT}; i++) {
        try { ledger.claim(${JSON.stringify(MACHINE)}, 'race-' + i, '{}'); won.push(i); }
        catch (e) { if (e.name !== 'ExecutionAlreadyExists') throw e; }
      }
      process.stdout.write(JSON.stringify(won));`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: ROOT });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`claimer exited ${code}: ${err}`)),
      );
    });
  }

  test('are taken by exactly one of two processes claiming them at the same moment', async () => {
    const dir = tempDir('executions');
    try {
      const at = Date.now() + 3000;
      const [a, b] = await Promise.all([claimer(dir, at), claimer(dir, at)]);
      expect(a.filter((i) => b.includes(i))).toEqual([]);
      expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: COUNT }, (_, i) => i));

      // This process finds them taken too, and sees executions whose process is gone without an end as ABORTED.
      const ledger = new ExecutionLedger(dir);
      expect(() => ledger.claim(MACHINE, 'race-0', '{}')).toThrow(`Execution Already Exists: '${executionArnOf(MACHINE, 'race-0')}'`);
      expect(ledger.describe(executionArnOf(MACHINE, 'race-0'))?.status).toBe('ABORTED');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses a name Step Functions would refuse', () => {
    const ledger = new ExecutionLedger(tempDir('executions'));
    expect(() => ledger.claim(MACHINE, 'a/b', '{}')).toThrow("Invalid Name: 'a/b'");
    expect(() => ledger.claim(MACHINE, 'x'.repeat(81), '{}')).toThrow('Invalid Name');
  });
});
