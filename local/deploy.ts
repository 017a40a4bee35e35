/**
 * What `cdk deploy` would create, made in the local emulators: the template's buckets, its
 * DynamoDB tables (keys and global secondary indexes as the template gives them) and its published
 * file assets (the training code archive). Each step is idempotent: a home that has them keeps them.
 */
import * as fs from 'node:fs';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { LOCAL_REGION } from './template';
import type { LocalTemplate } from './template-types';

/** Create the template's buckets, tables and file assets in the emulators (those missing). */
export async function deployLocally(
  template: LocalTemplate,
  s3: S3Client,
  dynamoEndpoint: string,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string },
): Promise<void> {
  const buckets = new Set([...template.buckets, ...template.assets.map((a) => a.bucket)]);
  for (const bucket of buckets) {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
    }
  }
  const ddb = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey }, // the home's: the emulators take no others
  });
  try {
    for (const table of template.tables) {
      try {
        await ddb.send(new DescribeTableCommand({ TableName: table.name }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException) && (error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
        await ddb.send(
          new CreateTableCommand({
            TableName: table.name,
            BillingMode: 'PAY_PER_REQUEST',
            KeySchema: table.keySchema as never,
            AttributeDefinitions: table.attributeDefinitions as never,
            GlobalSecondaryIndexes: table.globalSecondaryIndexes.length > 0 ? (table.globalSecondaryIndexes as never) : undefined,
          }),
        );
      }
    }
  } finally {
    ddb.destroy();
  }
  for (const asset of template.assets) {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: asset.bucket, Key: asset.key }));
    } catch {
      await s3.send(new PutObjectCommand({ Bucket: asset.bucket, Key: asset.key, Body: fs.readFileSync(asset.file) }));
    }
  }
}
