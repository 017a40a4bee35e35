/**
 * Reading a synthesized template for assertions without naming hashed logical ids: functions are
 * found by their `mloop:function` metadata, policies by the role they are attached to, API
 * resources by their path, and CloudFormation intrinsics are rendered to readable text
 * (`${Logical.Arn}`, `${AWS::Region}`) so that ARNs and definitions can be compared as strings.
 */
import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { FUNCTION_METADATA_KEY, type FunctionId } from '../../lib/function-catalog';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- template JSON is walked by tests whose assertions check its shape
export type Json = any;

export interface CfnResource {
  readonly Type: string;
  readonly Properties: Record<string, Json>;
  readonly Metadata?: Record<string, Json>;
  readonly DependsOn?: string[];
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

/** One resource of the template, with its logical id. */
export interface Found {
  readonly logicalId: string;
  readonly resource: CfnResource;
}

export function resourcesOfType(template: Template, type: string): Found[] {
  return Object.entries(template.findResources(type)).map(([logicalId, resource]) => ({
    logicalId,
    resource: { ...(resource as CfnResource), Properties: (resource as CfnResource).Properties ?? {} },
  }));
}

/** The one resource of a type that satisfies `predicate`; throws when there is none or several. */
export function theResource(template: Template, type: string, predicate: (found: Found) => boolean = () => true): Found {
  const matches = resourcesOfType(template, type).filter(predicate);
  if (matches.length !== 1) {
    throw new Error(`Expected exactly one ${type} to match, found ${matches.length}: ${matches.map((m) => m.logicalId).join(', ')}`);
  }
  return matches[0];
}

/**
 * A CloudFormation value as text: Ref -> `${Id}`, Fn::GetAtt -> `${Id.Attr}`, Fn::Join joined,
 * Fn::Sub -> its template, Fn::FindInMap -> `${Map[Top].Second}` (keys rendered). Anything else
 * becomes its JSON.
 */
export function renderText(value: Json): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object') {
    if ('Ref' in value) return `\${${value.Ref}}`;
    if ('Fn::GetAtt' in value) {
      const att = value['Fn::GetAtt'];
      return Array.isArray(att) ? `\${${att[0]}.${att[1]}}` : `\${${att}}`;
    }
    if ('Fn::Join' in value) {
      const [separator, parts] = value['Fn::Join'] as [string, Json[]];
      return parts.map(renderText).join(separator);
    }
    if ('Fn::Sub' in value) {
      const sub = value['Fn::Sub'];
      return Array.isArray(sub) ? sub[0] : sub;
    }
    if ('Fn::FindInMap' in value) {
      const [map, top, second] = (value['Fn::FindInMap'] as Json[]).map(renderText);
      return `\${${map}[${top}].${second}}`;
    }
  }
  return JSON.stringify(value);
}

/** `${Id.Arn}` as renderText writes the ARN of a resource. */
/** The logical id of a construct's CloudFormation resource in its stack's template. */
export function logicalIdOf(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

export const arnText = (logicalId: string): string => `\${${logicalId}.Arn}`;

// ---------------------------------------------------------------------------------------------
// Lambda functions

export interface FoundFunction extends Found {
  readonly functionId: FunctionId;
  /** Logical id of the function's execution role. */
  readonly roleId: string;
}

/** The functions that carry the mloop catalog metadata, keyed by catalog id. */
export function mloopFunctions(template: Template): Map<FunctionId, FoundFunction> {
  const out = new Map<FunctionId, FoundFunction>();
  for (const found of resourcesOfType(template, 'AWS::Lambda::Function')) {
    const functionId = found.resource.Metadata?.[FUNCTION_METADATA_KEY] as FunctionId | undefined;
    if (!functionId) continue;
    if (out.has(functionId)) throw new Error(`Two functions carry ${FUNCTION_METADATA_KEY}=${functionId}`);
    const role = found.resource.Properties.Role;
    if (!role?.['Fn::GetAtt']) throw new Error(`Function ${found.logicalId} has no role of this stack`);
    out.set(functionId, { ...found, functionId, roleId: role['Fn::GetAtt'][0] });
  }
  return out;
}

export function mloopFunction(template: Template, id: FunctionId): FoundFunction {
  const fn = mloopFunctions(template).get(id);
  if (!fn) throw new Error(`No function with ${FUNCTION_METADATA_KEY}=${id}`);
  return fn;
}

// ---------------------------------------------------------------------------------------------
// IAM

/** An IAM statement with Action and Resource as lists and resources rendered as text. */
export interface Statement {
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
  readonly condition?: Json;
  /** The logical id of the policy (or role, for inline policies) that holds it. */
  readonly source: string;
}

const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function statementsOf(document: Json, source: string): Statement[] {
  return asList<Json>(document?.Statement).map((s) => ({
    effect: s.Effect,
    actions: asList<string>(s.Action),
    resources: asList<Json>(s.Resource).map(renderText),
    condition: s.Condition,
    source,
  }));
}

/** Every identity-based statement in the template: policies, managed policies, inline role policies. */
export function allIdentityStatements(template: Template): Statement[] {
  const out: Statement[] = [];
  for (const { logicalId, resource } of resourcesOfType(template, 'AWS::IAM::Policy')) {
    out.push(...statementsOf(resource.Properties.PolicyDocument, logicalId));
  }
  for (const { logicalId, resource } of resourcesOfType(template, 'AWS::IAM::ManagedPolicy')) {
    out.push(...statementsOf(resource.Properties.PolicyDocument, logicalId));
  }
  for (const { logicalId, resource } of resourcesOfType(template, 'AWS::IAM::Role')) {
    for (const policy of asList<Json>(resource.Properties.Policies)) out.push(...statementsOf(policy.PolicyDocument, logicalId));
  }
  return out;
}

/** The statements of the AWS::IAM::Policy resources (and inline policies) attached to a role. */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const out: Statement[] = [];
  for (const { logicalId, resource } of resourcesOfType(template, 'AWS::IAM::Policy')) {
    const roles = asList<Json>(resource.Properties.Roles);
    if (roles.some((r) => r?.Ref === roleId)) out.push(...statementsOf(resource.Properties.PolicyDocument, logicalId));
  }
  const role = template.findResources('AWS::IAM::Role')[roleId] as CfnResource | undefined;
  if (!role) throw new Error(`No role ${roleId}`);
  for (const policy of asList<Json>(role.Properties?.Policies)) out.push(...statementsOf(policy.PolicyDocument, roleId));
  return out;
}

/** The role whose trust policy lets `service` assume it (exactly one). */
export function roleAssumedBy(template: Template, service: string): Found {
  return theResource(template, 'AWS::IAM::Role', ({ resource }) =>
    asList<Json>(resource.Properties.AssumeRolePolicyDocument?.Statement).some((s) => asList<Json>(s.Principal?.Service).includes(service)),
  );
}

/** IAM's wildcard matching (`*` any run of characters, `?` one character), whole string. */
export function iamMatches(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 'i').test(value);
}

/**
 * Whether some Allow statement grants `action` on `resource` (both concrete). Conditions are
 * ignored, so a `false` here is a safe "cannot"; there are no Deny statements in identity policies
 * of this stack (asserted separately).
 */
export function allows(statements: Statement[], action: string, resource: string): boolean {
  return statements.some(
    (s) => s.effect === 'Allow' && s.actions.some((a) => iamMatches(a, action)) && s.resources.some((r) => iamMatches(r, resource)),
  );
}

/** The resources on which some Allow statement grants exactly `action` (as written, e.g. 's3:PutObject'). */
export function resourcesGranted(statements: Statement[], action: string): string[] {
  return statements
    .filter((s) => s.effect === 'Allow' && s.actions.includes(action))
    .flatMap((s) => s.resources)
    .sort();
}

// ---------------------------------------------------------------------------------------------
// Step Functions

export interface State {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, Json>;
  readonly ResultPath?: string;
  readonly Catch?: { ErrorEquals: string[]; ResultPath?: string; Next: string }[];
  readonly Retry?: Json[];
  readonly Choices?: Json[];
  readonly ErrorPath?: string;
  readonly CausePath?: string;
  readonly QueryLanguage?: string;
}

export interface Definition {
  readonly StartAt: string;
  readonly States: Record<string, State>;
  readonly QueryLanguage?: string;
  readonly TimeoutSeconds?: number;
}

/**
 * A state machine's definition, parsed, with intrinsics rendered as `${...}` text: the training
 * pipeline's by default, or the one whose logical id starts with `idPrefix` (the stack has the
 * batch scoring machine too, lib/batch.ts).
 */
export function stateMachineDefinition(
  template: Template,
  idPrefix = 'TrainingStateMachine',
): {
  logicalId: string;
  definition: Definition;
  properties: Record<string, Json>;
} {
  const { logicalId, resource } = theResource(template, 'AWS::StepFunctions::StateMachine', (found) =>
    found.logicalId.startsWith(idPrefix),
  );
  const text = renderText(resource.Properties.DefinitionString);
  return { logicalId, definition: JSON.parse(text) as Definition, properties: resource.Properties };
}

/** The names of the states every transition (Next, Default, Choices, Catch) can reach from StartAt. */
export function reachableStates(definition: Definition): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const state = definition.States[name];
    if (!state) return;
    const next = [state.Next, state.Default, ...asList(state.Choices).map((c: Json) => c.Next), ...asList(state.Catch).map((c) => c.Next)];
    for (const n of next) if (n) visit(n);
  };
  visit(definition.StartAt);
  return seen;
}

// ---------------------------------------------------------------------------------------------
// API Gateway

/** The path of an AWS::ApiGateway::Resource, from the API's root ('/v1/health'). */
export function apiResourcePath(template: Template, resourceId: string): string {
  const resources = template.findResources('AWS::ApiGateway::Resource') as Record<string, CfnResource>;
  const parts: string[] = [];
  let current: string | undefined = resourceId;
  while (current && resources[current]) {
    const props: Record<string, Json> = resources[current].Properties;
    parts.unshift(props.PathPart);
    current = props.ParentId?.Ref;
  }
  return `/${parts.join('/')}`;
}

/** The AWS::ApiGateway::Method for an HTTP method on a resource path. */
export function apiMethod(template: Template, httpMethod: string, path: string): Found {
  return theResource(
    template,
    'AWS::ApiGateway::Method',
    ({ resource }) =>
      resource.Properties.HttpMethod === httpMethod && apiResourcePath(template, resource.Properties.ResourceId?.Ref) === path,
  );
}
