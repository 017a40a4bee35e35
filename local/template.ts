/**
 * The synthesized template, read for the local runtime: the CDK app is synthesized in-process
 * (no CDK CLI, no bundling) and CloudFormation's intrinsic functions are resolved against local
 * names, so the state machine that runs here is the one CDK wrote, with the same rules and the
 * same function environments.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FUNCTION_METADATA_KEY, FUNCTIONS, type FunctionId } from '../lib/function-catalog';
import { readCachedTemplate, templateKey, writeCachedTemplate } from './template-cache';
import type {
  LocalApiRoute,
  LocalFileAsset,
  LocalFunction,
  LocalRestApi,
  LocalRule,
  LocalStack,
  LocalTable,
  LocalTemplate,
} from './template-types';

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/** CloudFormation's resolution of Ref and Fn::GetAtt, with the names resources get locally. */
class Resolver {
  constructor(
    private readonly resources: Record<string, CfnResource>,
    private readonly stackName: string,
    /** The template's Mappings, for Fn::FindInMap (the training image's account by region). */
    private readonly mappings: Record<string, Record<string, Record<string, unknown>>> = {},
  ) {}

  physicalName(logicalId: string): string {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`The template has no resource '${logicalId}'.`);
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        return `mloop-${logicalId.toLowerCase()}`.slice(0, 63);
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
      case 'AWS::Lambda::Function':
      case 'AWS::StepFunctions::StateMachine':
      case 'AWS::SNS::Topic':
        return `${this.stackName}-${logicalId}`;
      case 'AWS::ApiGateway::RestApi':
        return restApiId(this.stackName, logicalId);
      case 'AWS::ApiGateway::Stage':
        return String(resource.Properties?.StageName ?? logicalId);
      default:
        return logicalId;
    }
  }

  arn(logicalId: string): string {
    const resource = this.resources[logicalId];
    const name = this.physicalName(logicalId);
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name}`;
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${LOCAL_REGION}:${LOCAL_ACCOUNT}:table/${name}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`;
      case 'AWS::StepFunctions::StateMachine':
        return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${name}`;
      default:
        return `arn:aws:local:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${logicalId}`;
    }
  }

  private pseudo(name: string): string | undefined {
    const values: Record<string, string> = {
      'AWS::AccountId': LOCAL_ACCOUNT,
      'AWS::Region': LOCAL_REGION,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': this.stackName,
      'AWS::NoValue': '',
    };
    return values[name];
  }

  private ref(name: string): string {
    const pseudo = this.pseudo(name);
    if (pseudo !== undefined) return pseudo;
    // CloudFormation's Ref gives a state machine's and a topic's ARN, and most other resources' names.
    const type = this.resources[name]?.Type;
    return type === 'AWS::StepFunctions::StateMachine' || type === 'AWS::SNS::Topic' ? this.arn(name) : this.physicalName(name);
  }

  private getAtt(logicalId: string, attribute: string): string {
    if (attribute === 'Arn') return this.arn(logicalId);
    if (attribute === 'StreamArn') return `${this.arn(logicalId)}/stream/local`;
    return this.physicalName(logicalId);
  }

  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [fn, arg] = entries[0];
      switch (fn) {
        case 'Ref':
          return this.ref(arg as string);
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
          return this.getAtt(id, attr);
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown[]];
          return (this.resolve(parts) as unknown[]).join(sep);
        }
        case 'Fn::FindInMap': {
          const [map, top, second] = (arg as unknown[]).map((v) => String(this.resolve(v)));
          const value = this.mappings[map]?.[top]?.[second];
          if (value === undefined) throw new Error(`The template's mapping ${map} has no ${top}.${second}.`);
          return value;
        }
        case 'Fn::Select': {
          const [index, list] = arg as [number, unknown];
          return (this.resolve(list) as unknown[])[Number(index)];
        }
        case 'Fn::Split': {
          const [sep, source] = arg as [string, unknown];
          return String(this.resolve(source)).split(sep);
        }
        case 'Fn::Sub': {
          const [template, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [arg as string, {}];
          return template.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
            if (name in vars) return String(this.resolve(vars[name]));
            if (name.includes('.')) {
              const [id, attr] = name.split('.');
              return this.getAtt(id, attr);
            }
            return this.ref(name);
          });
        }
        default:
          if (fn.startsWith('Fn::')) throw new Error(`The local runtime cannot resolve ${fn} in the template.`);
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }
}

/**
 * A REST API's id, as API Gateway makes them (10 lowercase letters and digits), fixed for a stack
 * and logical id so that the API's local URL does not change between runs.
 */
function restApiId(stackName: string, logicalId: string): string {
  const digest = createHash('sha256').update(`${stackName}/${logicalId}`).digest();
  return [...digest.subarray(0, 10)].map((byte) => 'abcdefghijklmnopqrstuvwxyz0123456789'[byte % 36]).join('');
}

/** The logical id a `Ref` or `Fn::GetAtt` names (unresolved template values). */
function referenced(value: unknown): string | undefined {
  const v = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown } | undefined;
  if (typeof v?.Ref === 'string') return v.Ref;
  const att = v?.['Fn::GetAtt'];
  if (Array.isArray(att)) return String(att[0]);
  if (typeof att === 'string') return att.split('.')[0];
  return undefined;
}

/**
 * The REST API's routes, as API Gateway builds them: each AWS::ApiGateway::Method on the path of
 * its AWS::ApiGateway::Resource (PathPart under ParentId, up to the API's root), with the function
 * of its Lambda proxy integration and, when its validator checks bodies, its request models.
 */
function apiRoutes(resources: Record<string, CfnResource>, resolver: Resolver): LocalApiRoute[] {
  const pathOf = (id: string | undefined): string => {
    const resource = id ? resources[id] : undefined;
    if (resource?.Type !== 'AWS::ApiGateway::Resource') return ''; // the API's root (RootResourceId)
    return `${pathOf(referenced(resource.Properties?.ParentId))}/${String(resource.Properties?.PathPart)}`;
  };
  const routes: LocalApiRoute[] = [];
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::ApiGateway::Method') continue;
    const props = resource.Properties ?? {};
    const integration = props.Integration as { Type?: string; Uri?: unknown } | undefined;
    if (integration?.Type !== 'AWS_PROXY') continue; // a mock integration (CORS) has no function behind it
    const uri = String(resolver.resolve(integration.Uri));
    const functionArn = /:lambda:path\/[^/]+\/functions\/(.+)\/invocations$/.exec(uri)?.[1];
    if (!functionArn) throw new Error(`The local runtime cannot run the API integration ${uri}.`);
    const validator = resources[referenced(props.RequestValidatorId) ?? ''];
    const validatesBody = validator?.Properties?.ValidateRequestBody === true;
    const models = (props.RequestModels as Record<string, unknown> | undefined) ?? {};
    routes.push({
      method: String(props.HttpMethod),
      resource: pathOf(referenced(props.ResourceId)) || '/',
      functionArn,
      requestModels: validatesBody
        ? Object.fromEntries(
            Object.entries(models).map(([contentType, ref]) => {
              const model = resources[referenced(ref) ?? ''];
              if (model?.Type !== 'AWS::ApiGateway::Model')
                throw new Error(`The API's request model ${JSON.stringify(ref)} is not in the template.`);
              return [contentType, resolver.resolve(model.Properties?.Schema) as Record<string, unknown>];
            }),
          )
        : {},
    });
  }
  return routes;
}

/**
 * Synthesize the app into `outdir` and read what the local runtime needs from the template.
 * `context` adds CDK context (e.g. `mloop:trainingCodeDir`), as `cdk synth -c` would.
 */
export function synthesizeLocal(outdir: string, context: Record<string, unknown> = {}): LocalTemplate {
  fs.rmSync(outdir, { recursive: true, force: true });
  // Loaded here, not at the top: a command whose template is cached never loads aws-cdk-lib.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildApp, inProcessApp } = require('../lib/app') as typeof import('../lib/app');
  // The template is checked against CloudFormation's schemas by the tests and by `cdk synth`;
  // here that check would only cost every command 2 s.
  const app = inProcessApp(outdir, context, { cloudFormationValidation: false });
  const mloopStack = buildApp(app, { nag: false });
  const assembly = app.synth();
  const artifact = assembly.getStackByName(mloopStack.stackName);
  const template = artifact.template as {
    Description?: string;
    Resources: Record<string, CfnResource>;
    Mappings?: Record<string, Record<string, Record<string, unknown>>>;
    Outputs?: Record<string, { Value: unknown; Description?: string; Export?: { Name: unknown } }>;
  };
  const resolver = new Resolver(template.Resources, mloopStack.stackName, template.Mappings);
  const entries = Object.entries(template.Resources);

  const functions: LocalFunction[] = [];
  const stateMachines: LocalTemplate['stateMachines'] = [];
  const rules: LocalRule[] = [];
  const buckets: string[] = [];
  const tables: LocalTable[] = [];
  let restApi: LocalRestApi | undefined;

  for (const [logicalId, resource] of entries) {
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::Lambda::Function': {
        const functionId = resource.Metadata?.[FUNCTION_METADATA_KEY] as FunctionId | undefined;
        if (!functionId) continue; // CDK's own helpers (custom resources) have no local counterpart
        if (!(functionId in FUNCTIONS)) throw new Error(`Function ${logicalId} names unknown catalog id '${functionId}'.`);
        const variables = (resolver.resolve((props.Environment as { Variables?: unknown } | undefined)?.Variables ?? {}) ?? {}) as Record<
          string,
          unknown
        >;
        functions.push({
          logicalId,
          functionId,
          arn: resolver.arn(logicalId),
          environment: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, String(v)])),
        });
        break;
      }
      case 'AWS::StepFunctions::StateMachine':
        stateMachines.push({
          logicalId,
          arn: resolver.arn(logicalId),
          definition: JSON.parse(String(resolver.resolve(props.DefinitionString))) as Record<string, unknown>,
        });
        break;
      case 'AWS::Events::Rule': {
        const targets = ((props.Targets as { Arn: unknown; Input?: unknown }[] | undefined) ?? []).map((t) => ({
          arn: String(resolver.resolve(t.Arn)),
          ...(t.Input !== undefined ? { input: String(resolver.resolve(t.Input)) } : {}),
        }));
        rules.push({
          logicalId,
          pattern: resolver.resolve(props.EventPattern) as Record<string, unknown> | undefined,
          schedule: props.ScheduleExpression as string | undefined,
          targetArns: targets.map((t) => t.arn),
          targets,
        });
        break;
      }
      case 'AWS::S3::Bucket':
        buckets.push(resolver.physicalName(logicalId));
        break;
      case 'AWS::ApiGateway::Stage':
        // The API's deployed stage: its URL is https://<id>.execute-api.<region>.amazonaws.com/<stage>/.
        restApi = { id: resolver.physicalName(referenced(props.RestApiId) ?? ''), stage: resolver.physicalName(logicalId) };
        break;
      case 'AWS::DynamoDB::GlobalTable':
        tables.push({
          name: resolver.physicalName(logicalId),
          keySchema: props.KeySchema as LocalTable['keySchema'],
          attributeDefinitions: props.AttributeDefinitions as LocalTable['attributeDefinitions'],
          globalSecondaryIndexes: (props.GlobalSecondaryIndexes as LocalTable['globalSecondaryIndexes'] | undefined) ?? [],
        });
        break;
      default:
        break;
    }
  }

  // File assets (the training code archive), as `cdk deploy` would publish them.
  const assets: LocalFileAsset[] = [];
  const manifestFile = path.join(outdir, `${artifact.id}.assets.json`);
  if (fs.existsSync(manifestFile)) {
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as {
      files?: Record<
        string,
        { source: { path: string; packaging?: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }
      >;
    };
    for (const file of Object.values(manifest.files ?? {})) {
      if (file.source.packaging && file.source.packaging !== 'file') continue;
      const source = path.join(outdir, file.source.path);
      if (!fs.existsSync(source) || !fs.statSync(source).isFile()) continue;
      for (const dest of Object.values(file.destinations)) {
        assets.push({ bucket: resolver.resolve({ 'Fn::Sub': dest.bucketName }) as string, key: dest.objectKey, file: source });
      }
    }
  }

  // The stack as DescribeStacks reports it: its outputs resolved as CloudFormation resolves them.
  const stack: LocalStack = {
    name: mloopStack.stackName,
    ...(template.Description !== undefined ? { description: template.Description } : {}),
    outputs: Object.entries(template.Outputs ?? {}).map(([key, output]) => ({
      key,
      value: String(resolver.resolve(output.Value)),
      ...(output.Description !== undefined ? { description: output.Description } : {}),
      ...(output.Export ? { exportName: String(resolver.resolve(output.Export.Name)) } : {}),
    })),
  };

  return {
    functions,
    stateMachines,
    rules,
    buckets,
    tables,
    assets,
    apiRoutes: apiRoutes(template.Resources, resolver),
    ...(restApi ? { restApi } : {}),
    stack,
  };
}

/**
 * The local template for `context`: from the template cache when nothing that decides it changed
 * (local/template-cache.ts), else synthesized into `outdir` and cached.
 */
export function loadLocalTemplate(outdir: string, context: Record<string, unknown> = {}): LocalTemplate {
  const key = templateKey(context);
  return readCachedTemplate(key) ?? writeCachedTemplate(key, synthesizeLocal(outdir, context));
}
