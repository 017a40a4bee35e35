/**
 * The cost of a request on the emulators' own ports, which take only requests signed with the
 * home's credentials (local/edge-credentials.ts): GetItem on dynalite's port (its body read and
 * hashed to check the signature) and a 64 MB GetObject on s3rver's (its hash declared, nothing
 * read), through the SDK clients the handlers use; and the signature check alone (parse, canonical
 * request, HMAC), per request. Medians of MLOOP_BENCH_ROUNDS rounds (default 5).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { generateEdgeCredentials } from '../local/edge-credentials';
import { startEmulators } from '../local/emulators';
import { declaredPayloadHash, isProblem, parseSignature, signedHeadersFor, verifySignature } from '../local/sigv4-verify';
import { median } from './median';

async function timed(count: number, call: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await call();
  return Number(process.hrtime.bigint() - started) / 1e6 / count;
}

/** Microseconds per signature check of a GetItem-shaped request (body hashed) and a GET (hash declared). */
function checkCost(credentials: { accessKeyId: string; secretAccessKey: string }): { bodyHashedUs: number; declaredUs: number } {
  const host = '127.0.0.1:45678';
  const body = JSON.stringify({ TableName: 'mloop-registry', Key: { pk: { S: 'MODEL#churn' }, sk: { S: 'VERSION#000001' } } });
  const cost = (service: string, url: string, hashBody: boolean) => {
    const now = Date.now();
    const payloadHash = createHash('sha256')
      .update(hashBody ? body : '')
      .digest('hex');
    const request = {
      method: 'POST',
      url,
      headers: {
        host,
        ...signedHeadersFor({ method: 'POST', url, headers: { host } }, credentials, { region: 'us-east-1', service, payloadHash, now }),
      },
    };
    const count = 20_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const signature = parseSignature(request);
      if (isProblem(signature)) throw new Error(signature.message);
      const hash = hashBody ? createHash('sha256').update(body).digest('hex') : declaredPayloadHash(request, signature)!;
      const problem = verifySignature(request, signature, hash, credentials.secretAccessKey, now);
      if (problem) throw new Error(problem.message);
    }
    return Number((Number(process.hrtime.bigint() - started) / 1e3 / count).toFixed(1));
  };
  return { bodyHashedUs: cost('dynamodb', '/', true), declaredUs: cost('s3', '/bucket/models/churn/1/model.onnx', false) };
}

export async function run(): Promise<unknown> {
  const rounds = Number(process.env.MLOOP_BENCH_ROUNDS ?? 5);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-bench-emulators-'));
  const credentials = generateEdgeCredentials();
  const emulators = await startEmulators(home, credentials);
  const region = 'us-east-1';
  const s3 = new S3Client({
    endpoint: emulators.s3Endpoint,
    region,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const ddb = new DynamoDBClient({ endpoint: emulators.dynamoEndpoint, region, credentials });
  try {
    const object = Buffer.alloc(64 * 1024 * 1024, 7);
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: 'big', Body: object }));
    await ddb.send(
      new CreateTableCommand({
        TableName: 'bench',
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      }),
    );
    await ddb.send(new PutItemCommand({ TableName: 'bench', Item: { pk: { S: 'k' }, v: { S: 'x'.repeat(500) } } }));
    const getItem = () => ddb.send(new GetItemCommand({ TableName: 'bench', Key: { pk: { S: 'k' } } })).then(() => undefined);
    const getObject = async () => {
      const out = await s3.send(new GetObjectCommand({ Bucket: 'bench', Key: 'big' }));
      const bytes = await out.Body!.transformToByteArray();
      if (bytes.length !== object.length) throw new Error(`GetObject read ${bytes.length} bytes of ${object.length}.`);
    };
    await timed(100, getItem); // warm-up
    await timed(2, getObject);
    const items: number[] = [];
    const objects: number[] = [];
    for (let i = 0; i < rounds; i++) {
      items.push(await timed(500, getItem));
      objects.push(await timed(5, getObject));
    }
    return {
      getItemMs: Number(median(items).toFixed(3)),
      getObject64MbMs: Number(median(objects).toFixed(1)),
      signatureCheck: checkCost(credentials),
    };
  } finally {
    s3.destroy();
    ddb.destroy();
    await emulators.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}
