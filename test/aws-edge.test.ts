/**
 * The local runtime's AWS edge endpoint (local/aws-api.ts), used as AWS is used: SDK clients with
 * the home's credentials (runtime.json) and `endpoint` set to it, and the real AWS CLI
 * (`aws --endpoint-url`); other credentials are refused in each protocol's error shape.
 * One cloud for the file; the AWS CLI's drop trains the model the later tests read.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SignatureV4 } from '@smithy/signature-v4';
import { STACK_OUTPUTS } from '../lib/mloop-stack';
import { diagnose } from '../bin/commands/doctor';
import { registryKeys, s3Keys } from '../lambdas/shared/layout';
import { executionArnOf } from '../lambdas/pipeline/start';
import { churnRows, DEMO_FEATURES, toCsv } from '../local/demo-data';
import { readRuntimeOwner } from '../local/runtime-claim';
import { signedHeadersFor } from '../local/sigv4-verify';
import { LOCAL_REGION } from '../local/template';
import { startCloud, stopCloud, tempDir, type TestCloud } from './helpers/cloud';
import { Sha256 } from '@aws-crypto/sha256-js';

jest.setTimeout(300_000);

/** The home's credentials (set in beforeAll): the edge takes these only. */
let CREDENTIALS: { accessKeyId: string; secretAccessKey: string };
const OTHER_CREDENTIALS = { accessKeyId: 'AKIAANYTHINGATALL', secretAccessKey: 'not-a-real-secret' };
const MODEL = 'edgechurn';

let t: TestCloud;
let endpoint: string;
/** The execution the AWS CLI's drop started (set by the AWS CLI test, read by the later ones). */
let executionArn: string | undefined;

beforeAll(async () => {
  t = await startCloud();
  endpoint = t.cloud.awsEndpoint;
  CREDENTIALS = t.cloud.credentials;
});
afterAll(() => stopCloud(t));

const client = { endpoint: () => ({ endpoint, region: LOCAL_REGION, credentials: CREDENTIALS }) };

/** The outputs of the local stack, by key, through the SDK's DescribeStacks. */
async function stackOutputs(): Promise<Record<string, string>> {
  const cfn = new CloudFormationClient(client.endpoint());
  const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: 'Mloop' }));
  return Object.fromEntries((Stacks?.[0].Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
}

/**
 * The AWS CLI to test with: Debian's `awscli` package (AWS CLI v2, /usr/bin/aws), else `aws` on
 * the PATH. Missing, the test fails saying how to install it (.ci/run does).
 */
function awsCli(): string {
  if (fs.existsSync('/usr/bin/aws')) return '/usr/bin/aws';
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'aws');
    if (dir && fs.existsSync(file)) return file;
  }
  throw new Error('The AWS CLI (`aws`) is not installed: install the Debian package with `apt-get install -y awscli` (.ci/run does).');
}

/** Run the AWS CLI against the edge, with the home's credentials (or others) and no configuration of this machine's. */
function aws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return awsWith(CREDENTIALS, ...args);
}

function awsWith(credentials: { accessKeyId: string; secretAccessKey: string }, ...args: string[]) {
  const home = tempDir('aws-cli');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
    AWS_PAGER: '',
  };
  // Asynchronous: the edge answers from this process, so a synchronous child would wait on itself.
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(awsCli(), ['--endpoint-url', endpoint, '--output', 'json', ...args], { env, encoding: 'utf8' }, (error, stdout, stderr) => {
      fs.rmSync(home, { recursive: true, force: true });
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A raw HTTP request to the edge (fetch would normalize a `..` path away). */
function raw(
  base: string,
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: target, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Headers that sign a raw S3 request to `base` with the home's credentials (or others), at `now`. */
function s3Signed(
  base: string,
  method: string,
  target: string,
  payloadHash: string,
  credentials = CREDENTIALS,
  now = Date.now(),
): Record<string, string> {
  const host = new URL(base).host;
  const scope = { region: LOCAL_REGION, service: 's3', payloadHash, now };
  return { host, ...signedHeadersFor({ method, url: target, headers: { host } }, credentials, scope) };
}

describe('the real AWS CLI against the edge endpoint', () => {
  test('aws s3 cp with the target metadata starts a run that succeeds; list-executions, describe-execution and describe-stacks read it', async () => {
    const dir = tempDir('aws-cli-data');
    const file = path.join(dir, 'churn.csv');
    fs.writeFileSync(file, toCsv(churnRows({ rows: 600, seed: 21 })));
    const key = s3Keys.dataset(MODEL, 'churn.csv');
    const started = t.cloud.nextExecutionFor(key);

    const cp = await aws('s3', 'cp', file, `s3://${t.cloud.dataBucket}/${key}`, '--metadata', 'mloop-target=churned');
    expect(cp).toMatchObject({ code: 0 });
    const result = await t.cloud.execution(await started);
    expect(result.status).toBe('SUCCEEDED');
    executionArn = executionArnOf(t.cloud.pipelineStateMachineArn, result.execution);

    const list = await aws('stepfunctions', 'list-executions', '--state-machine-arn', t.cloud.pipelineStateMachineArn);
    expect(list.code).toBe(0);
    const listed = (JSON.parse(list.stdout) as { executions: { executionArn: string; status: string }[] }).executions;
    expect(listed).toContainEqual(expect.objectContaining({ executionArn, status: 'SUCCEEDED' }));

    const described = await aws('stepfunctions', 'describe-execution', '--execution-arn', executionArn!);
    expect(described.code).toBe(0);
    expect(JSON.parse(described.stdout)).toMatchObject({
      executionArn,
      status: 'SUCCEEDED',
      stateMachineArn: t.cloud.pipelineStateMachineArn,
    });

    const stacks = await aws('cloudformation', 'describe-stacks', '--stack-name', 'Mloop');
    expect(stacks.code).toBe(0);
    const stack = (
      JSON.parse(stacks.stdout) as {
        Stacks: { StackName: string; StackStatus: string; Outputs: { OutputKey: string; OutputValue: string }[] }[];
      }
    ).Stacks[0];
    expect([stack.StackName, stack.StackStatus]).toEqual(['Mloop', 'CREATE_COMPLETE']);
    expect(Object.fromEntries(stack.Outputs.map((o) => [o.OutputKey, o.OutputValue]))).toMatchObject({
      DataBucketName: t.cloud.dataBucket,
      RegistryTableName: t.cloud.registryTable,
      StateMachineArn: t.cloud.pipelineStateMachineArn,
    });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('aws s3 cp round-trips the exact bytes, and a stack of another name is an error naming it', async () => {
    const dir = tempDir('aws-cli-bytes');
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256));
    fs.writeFileSync(path.join(dir, 'up.bin'), bytes);
    expect((await aws('s3', 'cp', path.join(dir, 'up.bin'), `s3://${t.cloud.dataBucket}/tmp/cli.bin`)).code).toBe(0);
    expect((await aws('s3', 'cp', `s3://${t.cloud.dataBucket}/tmp/cli.bin`, path.join(dir, 'down.bin'))).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'down.bin')).equals(bytes)).toBe(true);

    const wrong = await aws('cloudformation', 'describe-stacks', '--stack-name', 'NotMloop');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('(ValidationError) when calling the DescribeStacks operation: Stack with id NotMloop does not exist');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("SDK clients with the home's credentials and the edge as endpoint", () => {
  test('S3 PutObject and GetObject keep the exact bytes, from a buffer and from a stream sent aws-chunked with a CRC32 trailer', async () => {
    // The SDK's defaults: a stream body goes aws-chunked with a CRC32 trailer (the PLATFORM-NOTES trap).
    const s3 = new S3Client({ ...client.endpoint(), forcePathStyle: true });
    const sent: Record<string, string>[] = [];
    s3.middlewareStack.add(
      (next) => async (args) => {
        sent.push({ ...(args.request as { headers: Record<string, string> }).headers });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordHeaders' },
    );
    const bytes = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 31) % 256));
    await s3.send(new PutObjectCommand({ Bucket: t.cloud.dataBucket, Key: 'tmp/buffer.bin', Body: bytes }));
    await s3.send(
      new PutObjectCommand({
        Bucket: t.cloud.dataBucket,
        Key: 'tmp/stream.bin',
        Body: Readable.from([bytes.subarray(0, 50_000), bytes.subarray(50_000)]),
        ContentLength: bytes.length,
      }),
    );
    expect(sent[1]).toMatchObject({ 'content-encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-crc32' });
    for (const key of ['tmp/buffer.bin', 'tmp/stream.bin']) {
      const out = await s3.send(new GetObjectCommand({ Bucket: t.cloud.dataBucket, Key: key }));
      expect(Buffer.from(await out.Body!.transformToByteArray()).equals(bytes)).toBe(true);
      expect(out.ContentLength).toBe(bytes.length);
      expect(out.ContentEncoding).toBeUndefined(); // aws-chunked is the transfer's, not the object's
    }
  });

  test('an aws-chunked body whose CRC32 trailer does not match is refused BadDigest and not stored', async () => {
    const data = Buffer.from('a,b\n1,2\n');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.from('something else')));
    const body = Buffer.concat([
      Buffer.from(`${data.length.toString(16)}\r\n`),
      data,
      Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${crc.toString('base64')}\r\n\r\n`),
    ]);
    const key = 'tmp/bad-digest.csv';
    const res = await raw(
      endpoint,
      'PUT',
      `/${t.cloud.dataBucket}/${key}`,
      {
        ...s3Signed(endpoint, 'PUT', `/${t.cloud.dataBucket}/${key}`, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'),
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-length': String(body.length),
      },
      body,
    );
    expect(res.status).toBe(400);
    expect(res.text).toContain('<Code>BadDigest</Code>');
    const s3 = new S3Client({ ...client.endpoint(), forcePathStyle: true });
    await expect(s3.send(new GetObjectCommand({ Bucket: t.cloud.dataBucket, Key: key }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  test('S3 keys with .. segments are refused with an S3 error before anything is written, on the edge and on the emulator port', async () => {
    const outside = path.join(path.dirname(t.home), `mloop-escape-${process.pid}`);
    const escape = `/${t.cloud.dataBucket}/../../${path.basename(outside)}`;
    for (const target of [escape, escape.replace(/\.\./g, '%2E%2E'), `/${t.cloud.dataBucket}/a/%2E%2E%2F%2E%2E%2F%2E%2E%2Fx`]) {
      const res = await raw(endpoint, 'PUT', target, s3Signed(endpoint, 'PUT', target, 'UNSIGNED-PAYLOAD'), Buffer.from('pwned'));
      expect([res.status, res.text]).toEqual([400, expect.stringContaining('<Code>InvalidArgument</Code>')]);
      expect(res.text).toContain('path segment: the local S3 stores objects as files under MLOOP_HOME/s3');
    }
    const empty = await raw(
      endpoint,
      'PUT',
      `/${t.cloud.dataBucket}//etc/x`,
      s3Signed(endpoint, 'PUT', `/${t.cloud.dataBucket}//etc/x`, 'UNSIGNED-PAYLOAD'),
      Buffer.from('x'),
    );
    expect([empty.status, empty.text]).toEqual([400, expect.stringContaining('has an empty path segment (a leading or doubled /)')]);

    // The emulator's own port (which handlers use) refuses a key that climbs out of its bucket too,
    // signed with the home's credentials (its port takes no others).
    const s3Port = readRuntimeOwner(t.home)!.s3Endpoint!;
    const direct = await raw(
      s3Port,
      'PUT',
      escape,
      { ...s3Signed(s3Port, 'PUT', escape, 'UNSIGNED-PAYLOAD'), 'content-length': '5' },
      Buffer.from('pwned'),
    );
    expect([direct.status, direct.text]).toEqual([400, expect.stringContaining('<Code>InvalidArgument</Code>')]);
    expect(direct.text).toContain('names a file outside its bucket&apos;s folder in the local S3 store');
    expect(fs.readdirSync(path.dirname(outside)).filter((f) => f.startsWith(path.basename(outside)))).toEqual([]);
  });

  test('DynamoDB GetItem reads the registry item the run wrote', async () => {
    expect(executionArn).toBeDefined(); // the AWS CLI's run trained the model
    const ddb = new DynamoDBClient(client.endpoint());
    const { Item } = await ddb.send(
      new GetItemCommand({
        TableName: t.cloud.registryTable,
        Key: { pk: { S: registryKeys.pk(MODEL) }, sk: { S: registryKeys.version(1) } },
      }),
    );
    expect(Item?.pk).toEqual({ S: registryKeys.pk(MODEL) });
    expect(Item?.sk).toEqual({ S: registryKeys.version(1) });
  });

  test("Lambda Invoke runs the models function by name, ARN or partial ARN; its error is answered as Lambda's; an unknown function is ResourceNotFoundException", async () => {
    const lambda = new LambdaClient(client.endpoint());
    const outputs = await stackOutputs();
    const name = outputs.ModelsFunctionName;
    const arn = `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:${name}`;
    for (const FunctionName of [name, arn, `000000000000:function:${name}`, `${name}:$LATEST`]) {
      const out = await lambda.send(new InvokeCommand({ FunctionName, Payload: JSON.stringify({ action: 'history', model: MODEL }) }));
      expect([out.StatusCode, out.FunctionError]).toEqual([200, undefined]);
      expect(JSON.parse(Buffer.from(out.Payload!).toString('utf8'))).toEqual(
        await t.cloud.invoke('models', { action: 'history', model: MODEL }),
      );
    }

    // A payload over Lambda's 6 MB is refused before it is read further, as Lambda refuses it.
    await expect(
      lambda.send(new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ action: 'history', pad: 'x'.repeat(7_000_000) }) })),
    ).rejects.toMatchObject({ name: 'RequestTooLargeException', $metadata: { httpStatusCode: 413 } });

    const failed = await lambda.send(
      new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ action: 'explode', model: MODEL }) }),
    );
    expect([failed.StatusCode, failed.FunctionError]).toEqual([200, 'Unhandled']);
    const error = JSON.parse(Buffer.from(failed.Payload!).toString('utf8')) as Record<string, unknown>;
    expect(error).toEqual({
      errorType: expect.any(String),
      errorMessage: 'Models request is invalid: action: expected promote, rollback, history, lineage, approve, reject, tag or archive.',
    });

    await expect(lambda.send(new InvokeCommand({ FunctionName: 'no-such-function', Payload: '{}' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: `Function not found: arn:aws:lambda:${LOCAL_REGION}:000000000000:function:no-such-function`,
      $metadata: { httpStatusCode: 404 },
    });
  });

  test('CloudFormation DescribeStacks answers every stack output under the CDK stack name; another name is a ValidationError', async () => {
    const outputs = await stackOutputs();
    for (const key of STACK_OUTPUTS) expect(outputs[key]).toEqual(expect.any(String));
    expect(outputs.ApiUrl).toMatch(new RegExp(`^${endpoint}/restapis/[a-z0-9]{10}/v1/_user_request_/$`));
    expect(outputs.EventsTopicArn).toMatch(/^arn:aws:sns:us-east-1:000000000000:/);

    const cfn = new CloudFormationClient(client.endpoint());
    await expect(cfn.send(new DescribeStacksCommand({ StackName: 'Nope' }))).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'Stack with id Nope does not exist',
    });
  });

  test('Step Functions ListExecutions lists newest first, filters by status and pages with nextToken', async () => {
    expect(executionArn).toBeDefined();
    const sfn = new SFNClient(client.endpoint());
    const stateMachineArn = t.cloud.pipelineStateMachineArn;
    // An input the pipeline refuses: an execution that fails at once, after the CLI's run.
    const { executionArn: failedArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'edge-bad-input', input: '{}' }));
    await t.cloud.execution('edge-bad-input');
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: failedArn }))).status).toBe('FAILED');

    const all = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
    expect(all.executions?.map((e) => [e.executionArn, e.status])).toEqual([
      [failedArn, 'FAILED'],
      [executionArn, 'SUCCEEDED'],
    ]);
    expect(all.executions?.[0].startDate).toBeInstanceOf(Date);
    expect(all.nextToken).toBeUndefined();

    const succeeded = await sfn.send(new ListExecutionsCommand({ stateMachineArn, statusFilter: 'SUCCEEDED' }));
    expect(succeeded.executions?.map((e) => e.executionArn)).toEqual([executionArn]);

    const first = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1 }));
    expect(first.executions?.map((e) => e.executionArn)).toEqual([failedArn]);
    const second = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1, nextToken: first.nextToken }));
    expect([second.executions?.map((e) => e.executionArn), second.nextToken]).toEqual([[executionArn], undefined]);

    await expect(sfn.send(new ListExecutionsCommand({ stateMachineArn: `${stateMachineArn}Nope` }))).rejects.toMatchObject({
      name: 'StateMachineDoesNotExist',
    });
  });

  test('the ApiUrl output serves the REST API to SigV4-signed requests (service execute-api)', async () => {
    expect(executionArn).toBeDefined(); // the model the run trained answers predictions
    const apiUrl = new URL((await stackOutputs()).ApiUrl);
    const signer = new SignatureV4({ service: 'execute-api', region: LOCAL_REGION, credentials: CREDENTIALS, sha256: Sha256 });
    const send = async (method: string, route: string, body?: string) => {
      const url = new URL(`v1/${route}`, apiUrl);
      const signed = await signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        headers: { host: url.host, ...(body ? { 'content-type': 'application/json' } : {}) },
        body,
      });
      expect(signed.headers.authorization).toContain(`/${LOCAL_REGION}/execute-api/aws4_request`);
      return fetch(url, { method, headers: signed.headers, body });
    };
    const health = await send('GET', 'health');
    expect(health.status).toBe(200);

    const instances = churnRows({ rows: 2, seed: 5 }).map((r) => Object.fromEntries(DEMO_FEATURES.map((f) => [f, r[f]])));
    const predicted = await send('POST', `models/${MODEL}/predict`, JSON.stringify({ instances }));
    expect(predicted.status).toBe(200);
    const answer = (await predicted.json()) as { model: unknown; predictions: unknown[] };
    expect([answer.model, answer.predictions.length]).toEqual([{ name: MODEL, version: 1 }, 2]);

    const other = new URL('/restapis/nosuchapi0/v1/_user_request_/v1/health', apiUrl);
    const elsewhere = await signer.sign({
      method: 'GET',
      protocol: other.protocol,
      hostname: other.hostname,
      port: Number(other.port),
      path: other.pathname,
      headers: { host: other.host },
    });
    expect((await fetch(other, { headers: elsewhere.headers })).status).toBe(404);
    // Unsigned, or signed with another key: refused before the API sees it.
    const unsigned = await fetch(new URL('v1/health', apiUrl));
    expect([unsigned.status, unsigned.headers.get('x-amzn-errortype')]).toEqual([403, 'UnrecognizedClientException']);
    const foreign = new SignatureV4({ service: 'execute-api', region: LOCAL_REGION, credentials: OTHER_CREDENTIALS, sha256: Sha256 });
    const url = new URL('v1/health', apiUrl);
    const signedByOther = await foreign.sign({
      method: 'GET',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      headers: { host: url.host },
    });
    expect((await fetch(url, { headers: signedByOther.headers })).status).toBe(403);
  });

  test('a request signed for a service the edge does not serve is answered with an error naming it', async () => {
    const sqs = await raw(endpoint, 'POST', '/', {
      authorization: `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20250101/${LOCAL_REGION}/sqs/aws4_request, SignedHeaders=host, Signature=00`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(sqs.status).toBe(400);
    expect(JSON.parse(sqs.text)).toMatchObject({
      __type: 'UnknownOperationException',
      message: expect.stringContaining("the service 'sqs'"),
    });
  });
});

describe("credentials other than the home's", () => {
  test("runtime.json holds the home's credentials, readable by the user alone (0600)", () => {
    const file = path.join(t.home, 'runtime.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const owner = readRuntimeOwner(t.home)!;
    // (The SDK marks the credential objects it is given with a $source: compare the fields.)
    expect([owner.accessKeyId, owner.secretAccessKey]).toEqual([CREDENTIALS.accessKeyId, CREDENTIALS.secretAccessKey]);
    expect(CREDENTIALS.accessKeyId).toMatch(/^[A-Z0-9]{20}$/);
    expect(CREDENTIALS.secretAccessKey.length).toBeGreaterThanOrEqual(40);
  });

  test("are refused in each protocol's error shape: S3 InvalidAccessKeyId, JSON UnrecognizedClientException, query InvalidClientTokenId", async () => {
    const other = { endpoint, region: LOCAL_REGION, credentials: OTHER_CREDENTIALS };
    const s3 = new S3Client({ ...other, forcePathStyle: true });
    await expect(
      s3.send(new PutObjectCommand({ Bucket: t.cloud.dataBucket, Key: 'datasets/x/planted.csv', Body: 'a' })),
    ).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
      $metadata: { httpStatusCode: 403 },
    });
    const sfn = new SFNClient(other);
    await expect(sfn.send(new ListExecutionsCommand({ stateMachineArn: t.cloud.pipelineStateMachineArn }))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
      $metadata: { httpStatusCode: 403 },
    });
    const ddb = new DynamoDBClient(other);
    await expect(
      ddb.send(new GetItemCommand({ TableName: t.cloud.registryTable, Key: { pk: { S: 'x' }, sk: { S: 'y' } } })),
    ).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    const lambda = new LambdaClient(other);
    await expect(lambda.send(new InvokeCommand({ FunctionName: 'x', Payload: Buffer.from('{}') }))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
    });
    const cfn = new CloudFormationClient(other);
    await expect(cfn.send(new DescribeStacksCommand({ StackName: 'Mloop' }))).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
      $metadata: { httpStatusCode: 403 },
    });
    expect(await listKeysOf('datasets/x/')).toEqual([]);
  });

  test('an unsigned request is refused, whatever it carries', async () => {
    const put = await raw(endpoint, 'PUT', `/${t.cloud.dataBucket}/datasets/x/unsigned.csv`, { 'content-length': '1' }, Buffer.from('a'));
    expect([put.status, put.text]).toEqual([403, expect.stringContaining('<Code>InvalidAccessKeyId</Code>')]);
    expect(put.text).toContain('The request is not signed');
    const start = await raw(endpoint, 'POST', '/', {
      'x-amz-target': 'AWSStepFunctions.ListStateMachines',
      'content-type': 'application/x-amz-json-1.0',
    });
    expect([start.status, JSON.parse(start.text).__type]).toEqual([403, 'UnrecognizedClientException']);
  });

  test("the home's access key id with another secret is refused as each protocol refuses a bad signature", async () => {
    const forged = { endpoint, region: LOCAL_REGION, credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'guessed' } };
    const s3 = new S3Client({ ...forged, forcePathStyle: true });
    await expect(
      s3.send(new PutObjectCommand({ Bucket: t.cloud.dataBucket, Key: 'datasets/x/forged.csv', Body: 'a' })),
    ).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    const ddb = new DynamoDBClient(forged);
    await expect(
      ddb.send(new GetItemCommand({ TableName: t.cloud.registryTable, Key: { pk: { S: 'x' }, sk: { S: 'y' } } })),
    ).rejects.toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 403 } });
    const sfn = new SFNClient(forged);
    await expect(sfn.send(new ListExecutionsCommand({ stateMachineArn: t.cloud.pipelineStateMachineArn }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    const cfn = new CloudFormationClient(forged);
    await expect(cfn.send(new DescribeStacksCommand({ StackName: 'Mloop' }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    const forgedCli = await awsWith(forged.credentials, 'cloudformation', 'describe-stacks', '--stack-name', 'Mloop');
    expect(forgedCli.stderr).toContain('(SignatureDoesNotMatch) when calling the DescribeStacks operation');
    expect(await listKeysOf('datasets/x/')).toEqual([]);
  });

  test("a request signed more than 15 minutes ago is RequestTimeTooSkewed; a presigned URL (the SDK signer's, the AWS CLI's) works until it expires", async () => {
    const target = `/${t.cloud.dataBucket}/tmp/buffer.bin`;
    const old = await raw(
      endpoint,
      'GET',
      target,
      s3Signed(endpoint, 'GET', target, 'UNSIGNED-PAYLOAD', CREDENTIALS, Date.now() - 16 * 60_000),
    );
    expect([old.status, old.text]).toEqual([403, expect.stringContaining('<Code>RequestTimeTooSkewed</Code>')]);
    const edge = new URL(endpoint);
    const json = await new SignatureV4({ service: 'states', region: LOCAL_REGION, credentials: CREDENTIALS, sha256: Sha256 }).sign(
      {
        method: 'POST',
        protocol: edge.protocol,
        hostname: edge.hostname,
        port: Number(edge.port),
        path: '/',
        headers: { host: edge.host, 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.ListStateMachines' },
        body: '{}',
      },
      { signingDate: new Date(Date.now() - 16 * 60_000) },
    );
    const oldJson = await fetch(endpoint, { method: 'POST', headers: json.headers, body: '{}' });
    expect([oldJson.status, await oldJson.json()]).toEqual([
      400,
      { __type: 'InvalidSignatureException', message: expect.stringContaining('Signature expired') },
    ]);

    const url = new URL(target, endpoint);
    const presign = (signingDate: Date) =>
      new SignatureV4({ service: 's3', region: LOCAL_REGION, credentials: CREDENTIALS, sha256: Sha256, uriEscapePath: false }).presign(
        {
          method: 'GET',
          protocol: url.protocol,
          hostname: url.hostname,
          port: Number(url.port),
          path: url.pathname,
          headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
        },
        { signingDate, expiresIn: 60 },
      );
    const query = (q: Record<string, unknown>) => new URLSearchParams(q as Record<string, string>).toString();
    const fresh = await presign(new Date());
    const got = await fetch(`${url.href}?${query(fresh.query!)}`);
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(150_000); // the object the SDK test stored
    // The AWS CLI's presigned URL (botocore's signer) too.
    const cli = await aws('s3', 'presign', `s3://${t.cloud.dataBucket}/tmp/buffer.bin`, '--expires-in', '60');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('X-Amz-Signature=');
    const byCli = await fetch(cli.stdout.trim());
    expect([byCli.status, (await byCli.arrayBuffer()).byteLength]).toEqual([200, 150_000]);
    const stale = await presign(new Date(Date.now() - 120_000));
    const expired = await fetch(`${url.href}?${query(stale.query!)}`);
    expect([expired.status, await expired.text()]).toEqual([403, expect.stringContaining('Request has expired')]);
  });

  test("the emulators' own ports take the home's signature only: unsigned or wrongly signed requests are refused", async () => {
    const owner = readRuntimeOwner(t.home)!;
    const target = `/${t.cloud.dataBucket}/datasets/x/direct.csv`;
    const unsigned = await raw(owner.s3Endpoint!, 'PUT', target, { 'content-length': '1' }, Buffer.from('a'));
    expect([unsigned.status, unsigned.text]).toEqual([403, expect.stringContaining('<Code>InvalidAccessKeyId</Code>')]);
    const guessed = { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'guessed' };
    const forged = await raw(
      owner.s3Endpoint!,
      'PUT',
      target,
      { ...s3Signed(owner.s3Endpoint!, 'PUT', target, 'UNSIGNED-PAYLOAD', guessed), 'content-length': '1' },
      Buffer.from('a'),
    );
    expect([forged.status, forged.text]).toEqual([403, expect.stringContaining('<Code>SignatureDoesNotMatch</Code>')]);
    // (s3rver's own check would have taken the built-in key S3RVER.)
    const s3rverKey = new S3Client({
      endpoint: owner.s3Endpoint,
      region: LOCAL_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await expect(
      s3rverKey.send(new PutObjectCommand({ Bucket: t.cloud.dataBucket, Key: 'datasets/x/s3rver.csv', Body: 'a' })),
    ).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });

    const key = { TableName: t.cloud.registryTable, Key: { pk: { S: registryKeys.pk(MODEL) }, sk: { S: registryKeys.version(1) } } };
    const home = new DynamoDBClient({ endpoint: owner.dynamoEndpoint, region: LOCAL_REGION, credentials: CREDENTIALS });
    expect((await home.send(new GetItemCommand(key))).Item?.pk).toEqual({ S: registryKeys.pk(MODEL) });
    const wrong = new DynamoDBClient({ endpoint: owner.dynamoEndpoint, region: LOCAL_REGION, credentials: guessed });
    await expect(wrong.send(new GetItemCommand(key))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      $metadata: { httpStatusCode: 403 },
    });
    const anyone = await raw(owner.dynamoEndpoint!, 'POST', '/', {
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      'content-type': 'application/x-amz-json-1.0',
    });
    expect([anyone.status, JSON.parse(anyone.text).__type]).toEqual([403, 'UnrecognizedClientException']);
    expect(await listKeysOf('datasets/x/')).toEqual([]);
  });

  test('mloop doctor reports the runtime without its secret key', async () => {
    const report = await diagnose(undefined, t.home);
    expect(report.home.owner).toMatchObject({ pid: process.pid, accessKeyId: CREDENTIALS.accessKeyId });
    expect(JSON.stringify(report)).not.toContain(CREDENTIALS.secretAccessKey);
  });

  test('the AWS CLI with other credentials is refused, naming the error', async () => {
    const refused = await awsWith(OTHER_CREDENTIALS, 'cloudformation', 'describe-stacks', '--stack-name', 'Mloop');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('(InvalidClientTokenId) when calling the DescribeStacks operation');
  });
});

/** Keys under a prefix of the data bucket, read with the home's credentials. */
async function listKeysOf(prefix: string): Promise<string[]> {
  const s3 = new S3Client({ ...client.endpoint(), forcePathStyle: true });
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: t.cloud.dataBucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}
