/**
 * An independent check of a synthesized template, as cfn-lint's core checks do it, against
 * CloudFormation's resource specification (the `@aws-cdk/aws-service-spec` package: the
 * CloudFormation registry schemas of every AWS resource type, as a database): each resource type
 * exists; each property is one the type has, of the right shape (strings, numbers, booleans,
 * lists, maps, nested property types), and each required one is there; every Ref, Fn::GetAtt,
 * Fn::Sub reference and DependsOn names something the template defines, and a GetAtt names an
 * attribute the type has. Intrinsic functions stand for a value of any type (their references
 * are checked). Findings are sentences naming the resource, the property path and what was expected.
 *
 * `resolveReferences` substitutes realistic values for references (ARNs by resource type, names,
 * pseudo parameters, mappings), so that a definition held in a template can be handed to a
 * validator that reads it as AWS will (asl-validator for the state machine).
 */
import type { SpecDatabase } from '@aws-cdk/service-spec-types';
import type { Json } from './template';

type PropertyType = { type: string; [key: string]: Json };

const PSEUDO: Record<string, string> = {
  'AWS::Region': 'us-east-1',
  'AWS::Partition': 'aws',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'Mloop',
  'AWS::StackId': 'arn:aws:cloudformation:us-east-1:123456789012:stack/Mloop/00000000-0000-0000-0000-000000000000',
  'AWS::NoValue': '',
  'AWS::NotificationARNs': '',
};

const isIntrinsic = (value: Json): boolean =>
  value !== null &&
  typeof value === 'object' &&
  !Array.isArray(value) &&
  Object.keys(value).length === 1 &&
  (Object.keys(value)[0] === 'Ref' || Object.keys(value)[0].startsWith('Fn::') || Object.keys(value)[0] === 'Condition');

const isCustom = (type: string) => type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';

export class TemplateChecker {
  private readonly findings: string[] = [];
  private readonly resources: Record<string, { Type: string; Properties?: Record<string, Json>; DependsOn?: string | string[] }>;
  private readonly parameters: Record<string, Json>;

  constructor(
    private readonly db: SpecDatabase,
    private readonly template: Json,
  ) {
    this.resources = template.Resources ?? {};
    this.parameters = template.Parameters ?? {};
  }

  /** Every finding of the template (an empty list when it is clean). */
  check(): string[] {
    for (const [id, resource] of Object.entries(this.resources)) {
      const where = `${id} (${resource.Type})`;
      for (const dep of [resource.DependsOn ?? []].flat()) {
        if (!this.resources[dep]) this.findings.push(`${where}: DependsOn names '${dep}', which is no resource of the template.`);
      }
      const props = resource.Properties ?? {};
      if (isCustom(resource.Type)) {
        this.references(props, `${where}.Properties`);
        continue;
      }
      const spec = this.resourceSpec(resource.Type);
      if (!spec) {
        this.findings.push(`${where}: no such resource type in CloudFormation's specification.`);
        continue;
      }
      this.properties(
        props,
        spec.properties as Record<string, { type: PropertyType; required?: boolean; previousTypes?: PropertyType[] }>,
        `${where}.Properties`,
      );
    }
    for (const [name, output] of Object.entries((this.template.Outputs ?? {}) as Record<string, Json>))
      this.references(output, `Outputs.${name}`);
    return this.findings;
  }

  private resourceSpec(type: string) {
    return this.db.lookup('resource', 'cloudFormationType', 'equals', type)[0];
  }

  private properties(
    value: Json,
    spec: Record<string, { type: PropertyType; required?: boolean; previousTypes?: PropertyType[] }>,
    where: string,
  ): void {
    if (isIntrinsic(value)) return this.references(value, where);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.findings.push(`${where}: expected an object of properties, got ${JSON.stringify(value)?.slice(0, 80)}.`);
      return;
    }
    for (const [name, prop] of Object.entries(spec)) {
      if (prop.required && !(name in value)) this.findings.push(`${where}: the required property '${name}' is missing.`);
    }
    for (const [name, v] of Object.entries(value as Record<string, Json>)) {
      const prop = spec[name];
      if (!prop) {
        this.findings.push(`${where}: '${name}' is no property of this type (known: ${Object.keys(spec).sort().join(', ')}).`);
        continue;
      }
      this.typed(v, [prop.type, ...(prop.previousTypes ?? [])], `${where}.${name}`);
    }
  }

  /** `value` is of one of `types` (the first one's findings are reported when it is of none). */
  private typed(value: Json, types: PropertyType[], where: string): void {
    if (isIntrinsic(value)) return this.references(value, where);
    let first: string[] | undefined;
    for (const type of types.flatMap((t) => (t.type === 'union' ? (t.types as PropertyType[]) : [t]))) {
      const before = this.findings.length;
      this.one(value, type, where);
      const found = this.findings.splice(before);
      if (found.length === 0) return;
      first ??= found;
    }
    this.findings.push(...(first ?? []));
  }

  private one(value: Json, type: PropertyType, where: string): void {
    const bad = (expected: string): void => {
      this.findings.push(`${where}: expected ${expected}, got ${JSON.stringify(value)?.slice(0, 80) ?? String(value)}.`);
    };
    switch (type.type) {
      case 'string':
      case 'date-time':
        // CloudFormation reads numbers and booleans as their text.
        if (!['string', 'number', 'boolean'].includes(typeof value)) bad('a string');
        return;
      case 'number':
      case 'integer':
        if (typeof value !== 'number' && !(typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)))
          bad(type.type === 'integer' ? 'an integer' : 'a number');
        return;
      case 'boolean':
        if (typeof value !== 'boolean' && value !== 'true' && value !== 'false') bad('a boolean');
        return;
      case 'json':
        this.references(value, where);
        return;
      case 'null':
        if (value !== null) bad('null');
        return;
      case 'tag':
        this.properties(
          value,
          { Key: { type: { type: 'string' }, required: true }, Value: { type: { type: 'string' }, required: true } },
          where,
        );
        return;
      case 'array':
        if (!Array.isArray(value)) return bad('a list');
        value.forEach((v, i) => this.typed(v, [type.element as PropertyType], `${where}[${i}]`));
        return;
      case 'map':
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad('a map');
        for (const [k, v] of Object.entries(value as Record<string, Json>)) this.typed(v, [type.element as PropertyType], `${where}.${k}`);
        return;
      case 'ref': {
        const definition = this.db.get('typeDefinition', (type.reference as { $ref: string }).$ref);
        this.properties(value, definition.properties as Record<string, { type: PropertyType; required?: boolean }>, where);
        return;
      }
      default:
        bad(`a value of type '${type.type}'`);
    }
  }

  /** Check the references of every intrinsic function inside `value`. */
  private references(value: Json, where: string): void {
    if (Array.isArray(value)) return value.forEach((v, i) => this.references(v, `${where}[${i}]`));
    if (value === null || typeof value !== 'object') return;
    if ('Ref' in value && typeof value.Ref === 'string') return this.ref(value.Ref, where);
    if ('Fn::GetAtt' in value) {
      const att = value['Fn::GetAtt'];
      const [id, attr] = Array.isArray(att) ? att : String(att).split(/\.(.*)/);
      return this.getAtt(id, attr, where);
    }
    if ('Fn::Sub' in value) {
      const [text, vars] = Array.isArray(value['Fn::Sub']) ? value['Fn::Sub'] : [value['Fn::Sub'], {}];
      for (const m of String(text).matchAll(/\$\{([^!}][^}]*)\}/g)) {
        const name = m[1];
        if (vars && name in vars) continue;
        const [id, attr] = name.split(/\.(.*)/);
        if (attr) this.getAtt(id, attr, where);
        else this.ref(id, where);
      }
      if (vars) this.references(vars, where);
      return;
    }
    if ('Fn::FindInMap' in value) {
      const [map] = value['Fn::FindInMap'];
      if (typeof map === 'string' && !this.template.Mappings?.[map])
        this.findings.push(`${where}: Fn::FindInMap names the mapping '${map}', which the template lacks.`);
    }
    for (const [k, v] of Object.entries(value as Record<string, Json>)) this.references(v, `${where}.${k}`);
  }

  private ref(name: string, where: string): void {
    if (!(name in PSEUDO) && !this.resources[name] && !(name in this.parameters))
      this.findings.push(`${where}: Ref '${name}' names no resource, parameter or pseudo parameter.`);
  }

  private getAtt(id: string, attr: string, where: string): void {
    const target = this.resources[id];
    if (!target) {
      this.findings.push(`${where}: Fn::GetAtt names the resource '${id}', which the template lacks.`);
      return;
    }
    if (isCustom(target.Type)) return;
    const spec = this.resourceSpec(target.Type);
    if (spec && !(attr in spec.attributes))
      this.findings.push(
        `${where}: ${target.Type} '${id}' has no attribute '${attr}' (it has: ${Object.keys(spec.attributes).sort().join(', ')}).`,
      );
  }
}

/** The template's findings against CloudFormation's specification. */
export function checkTemplate(db: SpecDatabase, template: Json): string[] {
  return new TemplateChecker(db, template).check();
}

/** A realistic physical value for a resource's Ref or Fn::GetAtt, by its type. */
function physical(template: Json, id: string, attr?: string): string {
  const type: string = template.Resources?.[id]?.Type ?? '';
  const name = id.toLowerCase();
  if (attr && attr !== 'Arn') return `${name}-${attr.toLowerCase()}`;
  const arns: Record<string, string> = {
    'AWS::Lambda::Function': `arn:aws:lambda:us-east-1:123456789012:function:${id}`,
    'AWS::IAM::Role': `arn:aws:iam::123456789012:role/${id}`,
    'AWS::StepFunctions::StateMachine': `arn:aws:states:us-east-1:123456789012:stateMachine:${id}`,
    'AWS::S3::Bucket': `arn:aws:s3:::${name}`,
    'AWS::DynamoDB::GlobalTable': `arn:aws:dynamodb:us-east-1:123456789012:table/${id}`,
    'AWS::SQS::Queue': `arn:aws:sqs:us-east-1:123456789012:${id}`,
    'AWS::SNS::Topic': `arn:aws:sns:us-east-1:123456789012:${id}`,
    'AWS::Logs::LogGroup': `arn:aws:logs:us-east-1:123456789012:log-group:${id}:*`,
    'AWS::Events::EventBus': `arn:aws:events:us-east-1:123456789012:event-bus/${id}`,
  };
  if (attr === 'Arn') return arns[type] ?? `arn:aws:${type.split('::')[1]?.toLowerCase() ?? 'x'}:us-east-1:123456789012:${id}`;
  // A Ref: ARNs for the types whose Ref is their ARN, names for the others.
  if (['AWS::StepFunctions::StateMachine', 'AWS::SNS::Topic'].includes(type)) return arns[type];
  return type === 'AWS::S3::Bucket' ? name : id;
}

/** `value` with every intrinsic function replaced by a realistic value (see the file comment). */
export function resolveReferences(template: Json, value: Json): Json {
  const resolve = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    if ('Ref' in v) return PSEUDO[v.Ref] ?? template.Parameters?.[v.Ref]?.Default ?? physical(template, v.Ref);
    if ('Fn::GetAtt' in v) {
      const [id, attr] = Array.isArray(v['Fn::GetAtt']) ? v['Fn::GetAtt'] : String(v['Fn::GetAtt']).split(/\.(.*)/);
      return physical(template, id, attr);
    }
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'];
      return (resolve(parts) as Json[]).join(sep);
    }
    if ('Fn::Split' in v) {
      const [sep, text] = v['Fn::Split'];
      return String(resolve(text)).split(sep);
    }
    if ('Fn::Select' in v) {
      const [index, list] = v['Fn::Select'];
      return (resolve(list) as Json[])[Number(resolve(index))];
    }
    if ('Fn::FindInMap' in v) {
      const [map, top, second] = resolve(v['Fn::FindInMap']) as string[];
      return template.Mappings[map][top][second];
    }
    if ('Fn::Sub' in v) {
      const [text, vars] = Array.isArray(v['Fn::Sub']) ? v['Fn::Sub'] : [v['Fn::Sub'], {}];
      return String(text).replace(/\$\{([^!}][^}]*)\}/g, (_m, name: string) => {
        if (vars && name in vars) return String(resolve(vars[name]));
        const [id, attr] = name.split(/\.(.*)/);
        return attr ? physical(template, id, attr) : String(resolve({ Ref: id }));
      });
    }
    return Object.fromEntries(Object.entries(v as Record<string, Json>).map(([k, x]) => [k, resolve(x)]));
  };
  return resolve(value);
}
