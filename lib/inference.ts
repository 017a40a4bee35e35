import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CAPTURE_PREFIX } from '../lambdas/shared/layout';
import { MloopFunction } from './mloop-function';
import { acknowledge, acknowledgeBucketGrants, acknowledgeFunctionDefaults } from './nag';

export interface InferenceApiProps {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITableV2;
  /**
   * Steady-state requests per second the stage accepts.
   * @default 100
   */
  readonly throttlingRateLimit?: number;
  /**
   * Burst of requests the stage accepts.
   * @default 200
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Most instances per prediction request.
   * @default 1000
   */
  readonly maxBatch?: number;
  /**
   * Seconds an alias resolution is cached: the bound on how long a promotion takes to serve.
   * @default 10
   */
  readonly aliasCacheSeconds?: number;
  /**
   * Whether requests and predictions are captured to S3 for monitoring.
   * @default true
   */
  readonly captureEnabled?: boolean;
}

/**
 * The prediction API: API Gateway (REST) in front of a Lambda running onnxruntime-node.
 * Every method requires IAM (SigV4) authorization; bodies are validated against a JSON model
 * before the function runs; access logs and throttling are on.
 *
 *   POST /v1/models/{name}/predict   {"instances": [...]} -> {"predictions": [...], "model": {...}}
 *   GET  /v1/health
 */
export class InferenceApi extends Construct {
  readonly api: apigw.RestApi;
  readonly function: MloopFunction<'predict'>;

  constructor(scope: Construct, id: string, props: InferenceApiProps) {
    super(scope, id);
    const maxBatch = props.maxBatch ?? 1000;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer, got ${maxBatch}.`);

    this.function = new MloopFunction(this, 'Predict', {
      functionId: 'predict',
      environment: {
        DATA_BUCKET: props.bucket.bucketName,
        REGISTRY_TABLE: props.table.tableName,
        MAX_BATCH: String(maxBatch),
        ALIAS_CACHE_SECONDS: String(props.aliasCacheSeconds ?? 10),
        CAPTURE_ENABLED: String(props.captureEnabled ?? true),
      },
    });
    props.bucket.grantRead(this.function, 'models/*');
    props.bucket.grantPut(this.function, `${CAPTURE_PREFIX}*`);
    props.table.grantReadData(this.function);
    acknowledgeBucketGrants(this.function, props.bucket, ['models/*', `${CAPTURE_PREFIX}*`], ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*']);
    acknowledgeFunctionDefaults(this.function, props.table);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.api = new apigw.RestApi(this, 'Api', {
      description: 'mloop prediction API',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      deployOptions: {
        stageName: 'v1',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        tracingEnabled: true,
        throttlingRateLimit: props.throttlingRateLimit ?? 100,
        throttlingBurstLimit: props.throttlingBurstLimit ?? 200,
      },
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
    });

    const integration = new apigw.LambdaIntegration(this.function, { proxy: true });
    const predictModel = this.api.addModel('PredictRequest', {
      contentType: 'application/json',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        type: apigw.JsonSchemaType.OBJECT,
        required: ['instances'],
        properties: {
          instances: { type: apigw.JsonSchemaType.ARRAY, minItems: 1, maxItems: maxBatch, items: { type: apigw.JsonSchemaType.OBJECT } },
        },
      },
    });
    const validator = this.api.addRequestValidator('BodyValidator', { validateRequestBody: true, validateRequestParameters: true });

    acknowledge(
      this.api,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account-level logging role must carry this AWS-managed policy; it only writes API Gateway's own logs.",
    );
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      'Every method requires IAM (SigV4) authorization: callers are AWS principals (services, roles), not end users of a Cognito user pool.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-APIG3',
      'The API is IAM-authorized and throttled per stage; a WAF web ACL is an account-level choice that teams attach to the stage (it is not free).',
    );

    const v1 = this.api.root.addResource('v1');
    v1.addResource('health').addMethod('GET', integration);
    v1.addResource('models')
      .addResource('{name}')
      .addResource('predict')
      .addMethod('POST', integration, {
        requestValidator: validator,
        requestModels: { 'application/json': predictModel },
        requestParameters: { 'method.request.path.name': true },
      });
  }
}
