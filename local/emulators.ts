/**
 * The local cloud's storage: an S3 API (s3rver) and a DynamoDB API (dynalite) on loopback, with
 * their state in folders under MLOOP_HOME so that datasets, models and the registry survive
 * across runs. Ports are chosen by the OS; nothing listens beyond 127.0.0.1.
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import dynalite from 'dynalite';
import S3rver from 's3rver';

/** An S3 notification record as s3rver emits it (the shape S3 sends to SNS/SQS/Lambda). */
export interface S3NotificationRecord {
  readonly eventName: string;
  readonly eventTime: string;
  readonly awsRegion: string;
  readonly s3: {
    readonly bucket: { readonly name: string };
    readonly object: { readonly key: string; readonly size?: number; readonly eTag?: string; readonly versionId?: string; readonly sequencer?: string };
  };
}

export interface Emulators {
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  /** Called for every S3 object event (ObjectCreated:*, ObjectRemoved:*). */
  onObjectEvent(listener: (record: S3NotificationRecord) => void): void;
  stop(): Promise<void>;
}

export async function startEmulators(home: string): Promise<Emulators> {
  const s3Dir = path.join(home, 's3');
  const dynamoDir = path.join(home, 'dynamodb');
  fs.mkdirSync(s3Dir, { recursive: true });
  fs.mkdirSync(dynamoDir, { recursive: true });

  const s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: s3Dir, silent: true });
  const s3Address = await s3.run();

  const dynamo = dynalite({ path: dynamoDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoAddress = dynamo.address() as AddressInfo;

  const listeners: ((record: S3NotificationRecord) => void)[] = [];
  s3.on('event', (event: { Records: S3NotificationRecord[] }) => {
    for (const record of event.Records) for (const listener of listeners) listener(record);
  });

  return {
    s3Endpoint: `http://127.0.0.1:${s3Address.port}`,
    dynamoEndpoint: `http://127.0.0.1:${dynamoAddress.port}`,
    onObjectEvent: (listener) => listeners.push(listener),
    stop: async () => {
      await s3.close();
      // dynalite keeps its LevelDB open until the server closes; wait for both.
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}
