/**
 * The local cloud's storage: an S3 API (s3rver) and a DynamoDB API (dynalite) on loopback, with
 * their state in folders under MLOOP_HOME so that datasets, models and the registry survive
 * across runs. Ports are chosen by the OS; nothing listens beyond 127.0.0.1.
 *
 * Neither emulator checks SigV4 signatures (s3rver reads the access key id only; dynalite takes
 * anything), and any local user can connect to a loopback port: each one's request handler is
 * wrapped, in process, by the check the edge makes (local/edge-credentials.ts), so that its port
 * takes only requests signed with the home's credentials. The in-process clients sign with them
 * (lambdas/shared/clients.ts), and the edge signs what it forwards (local/emulator-proxy.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import dynalite from 'dynalite';
import { DYNAMODB_MAX_REQUEST_BYTES } from './emulator-proxy';
import { requireHomeSignature, type EdgeCredentials } from './edge-credentials';
import { Level } from 'level';
import S3rver from 's3rver';

/** An S3 notification record as s3rver emits it (the shape S3 sends to SNS/SQS/Lambda). */
export interface S3NotificationRecord {
  readonly eventName: string;
  readonly eventTime: string;
  readonly awsRegion: string;
  readonly s3: {
    readonly bucket: { readonly name: string };
    readonly object: {
      readonly key: string;
      readonly size?: number;
      readonly eTag?: string;
      readonly versionId?: string;
      readonly sequencer?: string;
    };
  };
  /** The id the write's response carried (`x-amz-request-id`, see withRequestIds): not s3rver's, ours. */
  readonly requestId?: string;
}

export interface Emulators {
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  /** Called for every S3 object event (ObjectCreated:*, ObjectRemoved:*). */
  onObjectEvent(listener: (record: S3NotificationRecord) => void): void;
  stop(): Promise<void>;
}

/** The parts of s3rver's filesystem store (lib/stores/filesystem.js) that writes go through. */
interface FilesystemStore {
  readonly rootDirectory: string;
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putObject(object: {
    bucket: string;
    key: string;
    content: Buffer | Readable;
    metadata: Record<string, string>;
  }): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown>>;
  copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata?: Record<string, string>,
  ): Promise<Record<string, unknown>>;
}

/** s3rver's own list of the system metadata it keeps beside the x-amz-meta-* fields. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ALLOWED_METADATA = (require('s3rver/lib/models/object') as { ALLOWED_METADATA: string[] }).ALLOWED_METADATA;

/** s3rver's accounts: the access key ids its own check takes (it verifies SigV2 signatures only). */
interface S3rverAccount {
  createKeyPair(id: string, secret: string): void;
  revokeAccessKey(id: string): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3RVER_ACCOUNT = (require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: S3rverAccount }).DUMMY_ACCOUNT;

/** s3rver's error, which it answers as an S3 error document with the code's status. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string) => Error;

/**
 * Keep every path s3rver's store makes inside its bucket's folder: a bucket or key with `..`
 * segments (`PUT /bucket/../../x`) would otherwise read or write files outside MLOOP_HOME/s3. The
 * edge endpoint refuses such keys first (local/emulator-proxy.ts); this covers the emulator's own
 * port too.
 */
function confineStore(store: FilesystemStore): void {
  const root = path.resolve(store.rootDirectory);
  const refuse = (what: string) => {
    throw new S3Error('InvalidArgument', `${what} names a file outside its bucket's folder in the local S3 store (${root}): refused.`);
  };
  const bucketPath = store.getBucketPath.bind(store);
  store.getBucketPath = (bucket) => {
    const folder = path.resolve(bucketPath(bucket));
    if (path.dirname(folder) !== root) refuse(`The bucket name '${bucket}'`);
    return folder;
  };
  const resourcePath = store.getResourcePath.bind(store);
  store.getResourcePath = (bucket, key, resource) => {
    const folder = store.getBucketPath(bucket);
    const file = path.resolve(resourcePath(bucket, key, resource));
    if (!file.startsWith(folder + path.sep)) refuse(`The key '${key ?? ''}' of bucket '${bucket}'`);
    return file;
  };
}

/** Write `data` beside `file` under a temporary name; the caller renames it into place (or removes it). */
async function stage(file: string, data: Buffer | string | Readable): Promise<string> {
  const pending = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${randomUUID()}.partial`);
  try {
    if (typeof data === 'string' || Buffer.isBuffer(data)) await fs.promises.writeFile(pending, data);
    else await pipeline(data, fs.createWriteStream(pending));
    return pending;
  } catch (error) {
    await fs.promises.rm(pending, { force: true });
    throw error;
  }
}

async function writeAtomically(file: string, data: Buffer | string): Promise<void> {
  await fs.promises.rename(await stage(file, data), file);
}

/**
 * Make s3rver's object writes durable and whole. As shipped, it answers a PUT before the bytes
 * are written (it ends the file stream and responds without waiting for it) and writes in place,
 * so a process killed just after an acknowledged PUT can leave the object empty or cut short (a
 * capture file with half a line). Here an object and its metadata are each written to a
 * temporary file and renamed into place before the PUT is answered: an acknowledged object is
 * on disk, and a reader sees the old object or the new one, never part of one (a copy too). A metadata file
 * that is not JSON (damaged outside mloop) is reported naming the file instead of as an
 * anonymous internal error.
 */
function hardenStore(store: FilesystemStore): void {
  const putMetadata = async (bucket: string, key: string, metadata: Record<string, string>, md5?: string) => {
    const json = Object.fromEntries(
      Object.entries(metadata).filter(([name]) => ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')),
    );
    if (md5) await writeAtomically(store.getResourcePath(bucket, key, 'object.md5'), md5);
    await writeAtomically(store.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(json, null, 2));
  };
  store.putMetadata = putMetadata;
  store.putObject = async (object) => {
    const file = store.getResourcePath(object.bucket, object.key, 'object');
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const count = (chunk: Buffer) => {
      md5.update(chunk);
      size += chunk.length;
    };
    if (Buffer.isBuffer(object.content)) count(object.content);
    else object.content.on('data', count);
    const pending = await stage(file, object.content);
    try {
      const digest = md5.digest('hex');
      // Metadata first: the object file is what makes an object exist, so it lands last.
      await putMetadata(object.bucket, object.key, object.metadata, digest);
      await fs.promises.rename(pending, file);
      return { size, md5: digest };
    } catch (error) {
      await fs.promises.rm(pending, { force: true });
      throw error;
    }
  };
  store.copyObject = async (srcBucket, srcKey, destBucket, destKey, replacementMetadata) => {
    const source = store.getResourcePath(srcBucket, srcKey, 'object');
    const target = store.getResourcePath(destBucket, destKey, 'object');
    if (source === target) {
      if (replacementMetadata) await putMetadata(destBucket, destKey, replacementMetadata);
      return store.getMetadata(destBucket, destKey);
    }
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const pending = await stage(target, fs.createReadStream(source));
    try {
      if (replacementMetadata) await putMetadata(destBucket, destKey, replacementMetadata);
      else {
        const read = (resource: string) =>
          fs.promises.readFile(store.getResourcePath(srcBucket, srcKey, resource), 'utf8').catch(() => undefined);
        const [metadata, md5] = await Promise.all([read('metadata.json'), read('object.md5')]);
        if (md5 !== undefined) await writeAtomically(store.getResourcePath(destBucket, destKey, 'object.md5'), md5);
        if (metadata !== undefined) await writeAtomically(store.getResourcePath(destBucket, destKey, 'metadata.json'), metadata);
      }
      await fs.promises.rename(pending, target);
    } catch (error) {
      await fs.promises.rm(pending, { force: true });
      throw error;
    }
    return store.getMetadata(destBucket, destKey);
  };
  const getMetadata = store.getMetadata.bind(store);
  store.getMetadata = async (bucket, key) => {
    try {
      return await getMetadata(bucket, key);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      const file = store.getResourcePath(bucket, key, 'metadata.json');
      throw Object.assign(
        new Error(
          `The local S3 store's ${file} (metadata of s3://${bucket}/${key}) is not JSON (${error.message}): restore it, or remove it to keep the object without its metadata.`,
        ),
        {
          expose: true,
        },
      );
    }
  };
}

/**
 * Open the local DynamoDB's LevelDB store once before dynalite does: dynalite meets a damaged
 * store (a garbage CURRENT or MANIFEST file, a truncated table file) with an unhandled error that
 * ends the process with a stack trace. Here it is an error that names the folder and what to do.
 */
async function checkDynamoStore(dir: string): Promise<void> {
  if (!fs.existsSync(path.join(dir, 'CURRENT'))) return; // a new store
  const db = new Level(dir);
  try {
    await db.open();
  } catch (error) {
    const e = error as Error & { cause?: Error };
    const detail = [e.message, e.cause?.message].filter(Boolean).join(': ');
    throw new Error(
      `The local DynamoDB store in ${dir} cannot be opened (${detail}): a file in it is damaged or was changed outside mloop. Restore the folder from a backup, or move it away to start with an empty registry (the data bucket's files are in ${path.join(path.dirname(dir), 's3')}, untouched).`,
    );
  } finally {
    await db.close().catch(() => undefined);
  }
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** The id of the S3 request being handled (withRequestIds), for the object events it causes. */
const s3Requests = new AsyncLocalStorage<string>();

/**
 * s3rver's listener with an id for each request, as S3 gives one: in the response's
 * `x-amz-request-id` header (s3rver sends none) and in the object events the request causes,
 * which S3 puts in the EventBridge event's `request-id`. A client that wrote an object can then
 * tell its write's event from another write of the same bytes to the same key (an unversioned
 * bucket, as s3rver's are, gives both the same ETag and no version id).
 */
function withRequestIds(listener: Listener): Listener {
  return (req, res) => {
    const id = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', id);
    s3Requests.run(id, () => listener(req, res));
  };
}

/**
 * Start the emulators on `home`'s state, each port taking only requests signed with
 * `credentials` (see the file comment).
 */
export async function startEmulators(home: string, credentials: EdgeCredentials): Promise<Emulators> {
  const s3Dir = path.join(home, 's3');
  const dynamoDir = path.join(home, 'dynamodb');
  fs.mkdirSync(s3Dir, { recursive: true });
  fs.mkdirSync(dynamoDir, { recursive: true });
  await checkDynamoStore(dynamoDir);

  // s3rver's own check wants to know the access key id; the signature is verified before it
  // (requireHomeSignature), and s3rver would only check SigV2 ones (which the gate refuses).
  S3RVER_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: s3Dir, silent: true, allowMismatchedSignatures: true });
  const store = (s3 as unknown as { store: FilesystemStore }).store;
  confineStore(store);
  hardenStore(store);
  // s3rver's server takes its request listener from callback() (Koa's) when it starts listening.
  const koa = s3 as unknown as { callback(): Listener };
  const s3Listener = koa.callback.bind(koa);
  koa.callback = () => requireHomeSignature(withRequestIds(s3Listener()), 's3', credentials, 0);
  const s3Address = await s3.run();

  const dynamo = dynalite({ path: dynamoDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const [dynamoListener] = dynamo.listeners('request') as Listener[];
  dynamo.removeAllListeners('request');
  dynamo.on('request', requireHomeSignature(dynamoListener, 'dynamodb', credentials, DYNAMODB_MAX_REQUEST_BYTES));
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoAddress = dynamo.address() as AddressInfo;

  const listeners: ((record: S3NotificationRecord) => void)[] = [];
  s3.on('event', (event: { Records: S3NotificationRecord[] }) => {
    // (Emitted while s3rver handles the write: in its request's context.)
    const requestId = s3Requests.getStore();
    for (const record of event.Records) for (const listener of listeners) listener(requestId ? { ...record, requestId } : record);
  });

  return {
    s3Endpoint: `http://127.0.0.1:${s3Address.port}`,
    dynamoEndpoint: `http://127.0.0.1:${dynamoAddress.port}`,
    onObjectEvent: (listener) => listeners.push(listener),
    stop: async () => {
      await s3.close();
      // dynalite keeps its LevelDB open until the server closes; wait for both.
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
      S3RVER_ACCOUNT.revokeAccessKey(credentials.accessKeyId);
    },
  };
}
