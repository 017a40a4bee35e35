import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface ModelRegistryProps {
  /**
   * What happens to the registry when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The model registry: one DynamoDB table holding, per model, its dataset versions, model
 * versions, aliases, pipeline runs and drift records (item shapes in lambdas/shared/registry.ts,
 * keys in lambdas/shared/layout.ts). On-demand, point-in-time recovery, deletion protection.
 */
export class ModelRegistry extends Construct {
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: ModelRegistryProps = {}) {
    super(scope, id);
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      globalSecondaryIndexes: [
        {
          // One entry per model (its META item), so the monitor lists models without a Scan.
          indexName: 'byKind',
          partitionKey: { name: 'kind', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'model', type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.KEYS_ONLY,
        },
      ],
    });
  }
}
