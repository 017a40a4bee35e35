/**
 * What the local runtime reads from the synthesized template, resolved to local names: the
 * functions (catalog id, ARN, environment), state machines, event rules and their targets, buckets,
 * tables and file assets. Types only: the template is read by local/template.ts and cached by
 * local/template-cache.ts.
 */
import type { FunctionId } from '../lib/function-catalog';

export interface LocalFunction {
  readonly logicalId: string;
  readonly functionId: FunctionId;
  readonly arn: string;
  readonly environment: Record<string, string>;
}

export interface LocalRule {
  readonly logicalId: string;
  readonly pattern?: Record<string, unknown>;
  readonly schedule?: string;
  readonly targetArns: string[];
  /** The targets with what each is given: the event, or the target's constant `Input` (JSON text). */
  readonly targets: LocalRuleTarget[];
}

export interface LocalRuleTarget {
  readonly arn: string;
  /** The target's `Input`: this JSON text is delivered instead of the event. */
  readonly input?: string;
}

/**
 * One method of the REST API (AWS::ApiGateway::Method on its resource path): which function its
 * proxy integration invokes, and the request models (JSON schemas by content type) that its
 * validator applies to the body.
 */
export interface LocalApiRoute {
  readonly method: string;
  /** The resource path, as API Gateway names it: `/v1/models/{name}/predict`. */
  readonly resource: string;
  /** The function of the Lambda proxy integration. */
  readonly functionArn: string;
  /** JSON schemas by content type, when the method's validator checks the body. */
  readonly requestModels: Record<string, Record<string, unknown>>;
}

/** The REST API's id and deployed stage (its URL on AWS: https://<id>.execute-api.<region>.amazonaws.com/<stage>/). */
export interface LocalRestApi {
  readonly id: string;
  readonly stage: string;
}

/** An output of the stack, resolved, as DescribeStacks reports it. */
export interface LocalStackOutput {
  readonly key: string;
  readonly value: string;
  readonly description?: string;
  readonly exportName?: string;
}

/** The CDK stack the template is (its name, e.g. Mloop, and its outputs). */
export interface LocalStack {
  readonly name: string;
  readonly description?: string;
  readonly outputs: LocalStackOutput[];
}

export interface LocalTable {
  readonly name: string;
  readonly keySchema: { AttributeName: string; KeyType: string }[];
  readonly attributeDefinitions: { AttributeName: string; AttributeType: string }[];
  readonly globalSecondaryIndexes: {
    IndexName: string;
    KeySchema: { AttributeName: string; KeyType: string }[];
    Projection: Record<string, unknown>;
  }[];
}

export interface LocalFileAsset {
  readonly bucket: string;
  readonly key: string;
  readonly file: string;
}

export interface LocalTemplate {
  readonly functions: LocalFunction[];
  readonly stateMachines: { logicalId: string; arn: string; definition: Record<string, unknown> }[];
  readonly rules: LocalRule[];
  readonly buckets: string[];
  readonly tables: LocalTable[];
  readonly assets: LocalFileAsset[];
  /** The REST API's methods (empty when the app has no API). */
  readonly apiRoutes: LocalApiRoute[];
  /** The REST API and its stage, when the app has one. */
  readonly restApi?: LocalRestApi;
  readonly stack: LocalStack;
}
