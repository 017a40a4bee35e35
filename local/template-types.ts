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
}
