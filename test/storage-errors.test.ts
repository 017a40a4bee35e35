/**
 * isMissingObject (lambdas/shared/storage.ts): the one test of "the object is not there" that
 * ingestion (schema.json, hyperparameters.json), batch runs and the batch end handler share.
 */
import { NoSuchBucket, NoSuchKey, NotFound, S3ServiceException } from '@aws-sdk/client-s3';
import { isMissingObject } from '../lambdas/shared/storage';

const meta = (httpStatusCode: number) => ({ $fault: 'client' as const, $metadata: { httpStatusCode } });

test("GetObject's NoSuchKey, HeadObject's NotFound and a bare 404 say the object is missing", () => {
  expect(isMissingObject(new NoSuchKey({ message: 'gone', ...meta(404) }))).toBe(true);
  expect(isMissingObject(new NotFound({ message: 'gone', ...meta(404) }))).toBe(true);
  expect(isMissingObject(new S3ServiceException({ name: 'Unknown', message: '', ...meta(404) }))).toBe(true);
});

test('a missing bucket, a refusal, any other error or none is not a missing object', () => {
  expect(isMissingObject(new NoSuchBucket({ message: 'no bucket', ...meta(404) }))).toBe(false);
  expect(isMissingObject(new S3ServiceException({ name: 'AccessDenied', message: '', ...meta(403) }))).toBe(false);
  expect(isMissingObject(new Error('socket hang up'))).toBe(false);
  expect(isMissingObject(undefined)).toBe(false);
  expect(isMissingObject(null)).toBe(false);
});
