/** Dataset objects in S3 as sources the scan reads. */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../shared/clients';
import type { RandomAccessSource } from './formats';

/** An S3 object read by byte ranges (ranged GETs of one object version): how Parquet is read. */
export function s3RangeSource(bucket: string, key: string, versionId: string | undefined, byteLength: number): RandomAccessSource {
  return {
    byteLength,
    read: async (start, end) => {
      if (end <= start) return new Uint8Array(0);
      const out = await s3Client().send(
        new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, Range: `bytes=${start}-${end - 1}` }),
      );
      return out.Body!.transformToByteArray();
    },
  };
}
