/** Small helpers over S3 that every handler uses; errors name the object they concern. */
import {
  CopyObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { s3Client } from './clients';

export async function getStream(bucket: string, key: string, versionId?: string): Promise<Readable> {
  const out = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return out.Body as Readable;
}

export async function getBytes(bucket: string, key: string, versionId?: string): Promise<Buffer> {
  const out = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function getJson<T>(bucket: string, key: string): Promise<T> {
  const bytes = await getBytes(bucket, key);
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (error) {
    throw new Error(`s3://${bucket}/${key} is not valid JSON: ${(error as Error).message}`);
  }
}

export async function putBytes(bucket: string, key: string, body: Buffer | string, contentType: string): Promise<void> {
  await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
}

export async function putJson(bucket: string, key: string, value: unknown): Promise<void> {
  await putBytes(bucket, key, JSON.stringify(value, null, 2), 'application/json');
}

/** Stream a body of unknown length to S3 (multipart when large). */
export async function upload(bucket: string, key: string, body: Readable, contentType: string): Promise<void> {
  await new Upload({ client: s3Client(), params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType } }).done();
}

export async function head(bucket: string, key: string, versionId?: string) {
  return s3Client().send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
}

/**
 * Whether an S3 error says the object is not there: GetObject's NoSuchKey, HeadObject's NotFound
 * (a HEAD answer has no body to name the error), or another 404, but not a missing bucket (a
 * misconfiguration, not an absent object).
 */
export function isMissingObject(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  if (e?.name === 'NoSuchBucket') return false;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** Whether an object is there (HeadObject); any error but its absence is thrown. */
export async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await head(bucket, key);
    return true;
  } catch (error) {
    if (isMissingObject(error)) return false;
    throw error;
  }
}

export async function tag(bucket: string, key: string, tags: Record<string, string>, versionId?: string): Promise<void> {
  await s3Client().send(
    new PutObjectTaggingCommand({
      Bucket: bucket,
      Key: key,
      VersionId: versionId,
      Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
    }),
  );
}

/** Keys under a prefix, in key order, strictly after `startAfter` when given. */
export async function listKeys(bucket: string, prefix: string, startAfter?: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3Client().send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, StartAfter: token ? undefined : startAfter, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/**
 * The CSV objects of a split: the object a URI names, or, for a URI ending in '/' (a dataset
 * ingested in parts), the .csv objects under that prefix in key order, each with its header line.
 */
export async function splitObjects(uri: string): Promise<{ bucket: string; key: string }[]> {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!match) throw new Error(`'${uri}' is not an s3:// URI.`);
  const [, bucket, key] = match;
  if (!key.endsWith('/')) return [{ bucket, key }];
  return (await listKeys(bucket, key)).filter((k) => k.endsWith('.csv')).map((k) => ({ bucket, key: k }));
}

export async function copy(sourceUri: { bucket: string; key: string }, bucket: string, key: string): Promise<void> {
  await s3Client().send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: key,
      CopySource: `${sourceUri.bucket}/${encodeURIComponent(sourceUri.key).replace(/%2F/g, '/')}`,
    }),
  );
}
