/**
 * The inference concern: the prediction API (API Gateway REST, request models, access logs,
 * throttling) and its Predict function, whose handler is lambdas/inference/predict-handler.ts.
 */
import { CfnOutput } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CAPTURE_PREFIX, FEEDBACK_PREFIX } from '../lambdas/shared/layout';
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
   * The most characters a categorical feature's value may have in a request: a longer one is a 400
   * naming the instance and the field, so it is never scored, captured or copied into a drift
   * report. The stack sets it from the training settings' `maxCategoryLength`.
   * @default 1000
   */
  readonly maxCategoryLength?: number;
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
  /**
   * Share of requests captured, from 0 to 1 (drawn per request; all instances of a request together).
   * @default 1
   */
  readonly captureSampleRate?: number;
  /**
   * Captured lines a container buffers before writing them as one JSON Lines object.
   * @default 1000
   */
  readonly captureBatchRecords?: number;
  /**
   * Seconds the oldest buffered capture line may wait before the buffer is written (on Lambda, at
   * the end of the first invocation past this age).
   * @default 10
   */
  readonly captureFlushSeconds?: number;
  /**
   * Share of champion requests also scored by the model holding the `shadow` alias (else
   * `challenger`), from 0 to 1: recorded in the capture for comparison, never returned.
   * @default 0
   */
  readonly shadowShare?: number;
  /**
   * Whether every method also requires an API key (`x-api-key`): an API key and a usage plan
   * with the stage's throttling limits are created.
   * @default false
   */
  readonly apiKeyRequired?: boolean;
  /**
   * Whether every method requires IAM (SigV4) authorization. It can be turned off only when
   * `apiKeyRequired` is on: the API always requires one or the other.
   * @default true
   */
  readonly iamAuthorization?: boolean;
  /**
   * Whether the stack sets API Gateway's CloudWatch Logs role for the account and region (an
   * `AWS::ApiGateway::Account` resource and its role). That setting is account-wide: it replaces
   * whatever role another stack or a person set, so it is opt-in. The stage's execution and access
   * logging need some role to be set: turn this on in an account and region where none is (API
   * Gateway's settings show it), or set one there once.
   * @default false
   */
  readonly cloudWatchRole?: boolean;
}

/** A share between 0 and 1, or throw naming the prop. */
function share(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v >= 0 && v <= 1)) throw new Error(`${name} must be between 0 and 1, got ${v}.`);
  return v;
}

/**
 * The prediction API: API Gateway (REST) in front of a Lambda running onnxruntime-node.
 * Every method requires IAM (SigV4) authorization; bodies are validated against a JSON model
 * before the function runs; access logs and throttling are on.
 *
 *   POST /v1/models/{name}/predict   {"instances": [...], "top_k"?: k} -> {"predictions": [...], "model": {...}}
 *   GET  /v1/models/{name}           the serving version: schema, metrics
 *   POST /v1/models/{name}/feedback  {"feedback": [{"requestId", "index", "label"}]} -> {"accepted": n}
 *   GET  /v1/health
 *
 * Request size: API Gateway accepts bodies up to 10 MB, and Lambda's synchronous invocation
 * limit (6 MB for the whole event) is the effective bound; requests are further bounded by
 * `maxBatch` instances (or feedback entries), checked by the request models. A response is bounded
 * by the same 6 MB: the function answers 413 for a prediction response over it (`top_k` trims one).
 */
export class InferenceApi extends Construct {
  readonly api: apigw.RestApi;
  readonly function: MloopFunction<'predict'>;
  /** The API key callers send as `x-api-key`, when `apiKeyRequired`. */
  readonly apiKey?: apigw.IApiKey;
  /** The usage plan that throttles API key callers, when `apiKeyRequired`. */
  readonly usagePlan?: apigw.UsagePlan;

  constructor(scope: Construct, id: string, props: InferenceApiProps) {
    super(scope, id);
    const maxBatch = props.maxBatch ?? 1000;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer, got ${maxBatch}.`);
    const captureSampleRate = share('captureSampleRate', props.captureSampleRate, 1);
    const shadowShare = share('shadowShare', props.shadowShare, 0);
    const captureBatchRecords = props.captureBatchRecords ?? 1000;
    if (!Number.isInteger(captureBatchRecords) || captureBatchRecords < 1)
      throw new Error(`captureBatchRecords must be a positive integer, got ${captureBatchRecords}.`);
    const captureFlushSeconds = props.captureFlushSeconds ?? 10;
    if (!(captureFlushSeconds >= 0)) throw new Error(`captureFlushSeconds must be 0 or more, got ${captureFlushSeconds}.`);
    const apiKeyRequired = props.apiKeyRequired ?? false;
    const iamAuthorization = props.iamAuthorization ?? true;
    if (!iamAuthorization && !apiKeyRequired) {
      throw new Error(
        'The API must require IAM authorization, an API key, or both: iamAuthorization is false and apiKeyRequired is not set.',
      );
    }
    const throttle = { rateLimit: props.throttlingRateLimit ?? 100, burstLimit: props.throttlingBurstLimit ?? 200 };

    this.function = new MloopFunction(this, 'Predict', {
      functionId: 'predict',
      environment: {
        DATA_BUCKET: props.bucket.bucketName,
        REGISTRY_TABLE: props.table.tableName,
        MAX_BATCH: String(maxBatch),
        MAX_CATEGORY_LENGTH: String(props.maxCategoryLength ?? 1000),
        ALIAS_CACHE_SECONDS: String(props.aliasCacheSeconds ?? 10),
        CAPTURE_ENABLED: String(props.captureEnabled ?? true),
        CAPTURE_SAMPLE_RATE: String(captureSampleRate),
        CAPTURE_BATCH_RECORDS: String(captureBatchRecords),
        CAPTURE_FLUSH_SECONDS: String(captureFlushSeconds),
        SHADOW_SHARE: String(shadowShare),
      },
    });
    props.bucket.grantRead(this.function, 'models/*');
    props.bucket.grantPut(this.function, `${CAPTURE_PREFIX}*`);
    props.bucket.grantPut(this.function, `${FEEDBACK_PREFIX}*`);
    props.table.grantReadData(this.function);
    acknowledgeBucketGrants(
      this.function,
      props.bucket,
      ['models/*', `${CAPTURE_PREFIX}*`, `${FEEDBACK_PREFIX}*`],
      ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*'],
    );
    acknowledgeFunctionDefaults(this.function, props.table);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.api = new apigw.RestApi(this, 'Api', {
      description: 'mloop prediction API',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // Account-wide, so only on request (see InferenceApiProps.cloudWatchRole).
      cloudWatchRole: props.cloudWatchRole ?? false,
      deployOptions: {
        stageName: 'v1',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        tracingEnabled: true,
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
      },
      defaultMethodOptions: {
        authorizationType: iamAuthorization ? apigw.AuthorizationType.IAM : apigw.AuthorizationType.NONE,
        ...(apiKeyRequired ? { apiKeyRequired: true } : {}),
      },
    });
    if (apiKeyRequired) {
      this.apiKey = this.api.addApiKey('ApiKey', { description: 'mloop prediction API key (x-api-key)' });
      this.usagePlan = this.api.addUsagePlan('UsagePlan', {
        description: 'mloop prediction API: the stage throttling limits, per API key',
        throttle,
        apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
      });
      this.usagePlan.addApiKey(this.apiKey);
      new CfnOutput(this, 'ApiKeyId', {
        value: this.apiKey.keyId,
        description: 'The API key id; its value: aws apigateway get-api-key --include-value --api-key <id>',
      });
    }
    if (!iamAuthorization) {
      acknowledge(
        this.api,
        'AwsSolutions-APIG4',
        'The deployer chose API keys instead of IAM (iamAuthorization: false, apiKeyRequired: true): every method requires a key of the usage plan, which also throttles it.',
      );
    }

    const integration = new apigw.LambdaIntegration(this.function, { proxy: true });
    const predictModel = this.api.addModel('PredictRequest', {
      contentType: 'application/json',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        type: apigw.JsonSchemaType.OBJECT,
        required: ['instances'],
        properties: {
          instances: { type: apigw.JsonSchemaType.ARRAY, minItems: 1, maxItems: maxBatch, items: { type: apigw.JsonSchemaType.OBJECT } },
          // The k most probable classes per prediction (lambdas/inference/response-limits.ts).
          top_k: { type: apigw.JsonSchemaType.INTEGER, minimum: 1 },
        },
      },
    });
    const feedbackModel = this.api.addModel('FeedbackRequest', {
      contentType: 'application/json',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        type: apigw.JsonSchemaType.OBJECT,
        required: ['feedback'],
        properties: {
          feedback: {
            type: apigw.JsonSchemaType.ARRAY,
            minItems: 1,
            maxItems: maxBatch,
            items: { type: apigw.JsonSchemaType.OBJECT, required: ['requestId', 'label'] },
          },
        },
      },
    });
    const validator = this.api.addRequestValidator('BodyValidator', { validateRequestBody: true, validateRequestParameters: true });

    if (props.cloudWatchRole) {
      acknowledge(
        this.api,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        "API Gateway's account-level logging role must carry this AWS-managed policy; it only writes API Gateway's own logs.",
      );
    }
    acknowledge(
      this.api,
      'AwsSolutions-COG4',
      iamAuthorization
        ? 'Every method requires IAM (SigV4) authorization: callers are AWS principals (services, roles), not end users of a Cognito user pool.'
        : 'Every method requires an API key of the usage plan: callers are applications holding a key, not end users of a Cognito user pool.',
    );
    acknowledge(
      this.api,
      'AwsSolutions-APIG3',
      `The API is ${iamAuthorization ? 'IAM-authorized' : 'API-key-authorized'} and throttled per stage; a WAF web ACL is an account-level choice that teams attach to the stage (it is not free).`,
    );

    const v1 = this.api.root.addResource('v1');
    v1.addResource('health').addMethod('GET', integration);
    const model = v1.addResource('models').addResource('{name}');
    model.addMethod('GET', integration, {
      requestValidator: validator,
      requestParameters: { 'method.request.path.name': true },
    });
    model.addResource('predict').addMethod('POST', integration, {
      requestValidator: validator,
      requestModels: { 'application/json': predictModel },
      requestParameters: { 'method.request.path.name': true },
    });
    model.addResource('feedback').addMethod('POST', integration, {
      requestValidator: validator,
      requestModels: { 'application/json': feedbackModel },
      requestParameters: { 'method.request.path.name': true },
    });
  }
}
