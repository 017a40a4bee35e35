/**
 * Helpers to acknowledge cdk-nag AwsSolutions findings on the one construct they concern, with
 * the reason. Finding ids that name resources are built from the resources' logical ids, so an
 * acknowledgement follows a rename instead of silently going stale.
 */
import { Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** `<LogicalId.Arn>` as cdk-nag writes a GetAtt in a finding. */
export function arnToken(resource: IConstruct): string {
  const cfn = resource.node.defaultChild as CfnResource;
  return `<${Stack.of(resource).getLogicalId(cfn)}.Arn>`;
}

/** The IAM5 findings that CDK's bucket grants produce for one key prefix. */
export function acknowledgeBucketGrants(scope: IConstruct, bucket: s3.IBucket, prefixes: string[], actions: string[]): void {
  for (const action of actions) {
    acknowledge(
      scope,
      `AwsSolutions-IAM5[Action::${action}]`,
      `${action} is the action group of CDK's Bucket grant methods; the statement is bound to the data bucket and to the key prefixes this function uses (${prefixes.join(', ')}).`,
    );
  }
  for (const prefix of prefixes) {
    acknowledge(
      scope,
      `AwsSolutions-IAM5[Resource::${arnToken(bucket)}/${prefix}]`,
      `Objects under ${prefix} are this function's part of the storage layout (lambdas/shared/layout.ts); object keys are data-dependent, so the grant is by prefix.`,
    );
  }
}

/** The findings every mloop Lambda role has, from the base construct's defaults. */
export function acknowledgeFunctionDefaults(scope: IConstruct, table?: dynamodb.ITableV2): void {
  acknowledge(
    scope,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, CreateLogStream and PutLogEvents, which every Lambda function needs to write its logs.',
  );
  acknowledge(
    scope,
    'AwsSolutions-IAM5[Resource::*]',
    'X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level permissions; CDK adds it for Tracing.ACTIVE.',
  );
  if (table) {
    acknowledge(
      scope,
      `AwsSolutions-IAM5[Resource::${arnToken(table)}/index/*]`,
      "The registry table's grant covers its own indexes (byKind lists the models); no other table is reachable.",
    );
  }
}
