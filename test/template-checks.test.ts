/**
 * An independent check in the suite (issue 14): the synthesized state machine, with its references
 * substituted by realistic ARNs and names, is validated by asl-validator (the Amazon States
 * Language schema and its semantic checks, ARNs and JSONPaths included), and the whole template
 * by a cfn-lint-like check against CloudFormation's resource specification
 * (`@aws-cdk/aws-service-spec`; test/helpers/cfn-check.ts). cfn-lint itself is not used: its npm
 * package (1.9.7) carries a specification from 2019 that knows no AWS::DynamoDB::GlobalTable and
 * cannot parse this template, the maintained cfn-lint is a Python package from PyPI, which these
 * machines cannot reach, and Debian packages none. Both checks are shown to fail on a broken input.
 */
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import type { SpecDatabase } from '@aws-cdk/service-spec-types';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, inProcessApp } from '../lib/app';
import { checkTemplate, resolveReferences } from './helpers/cfn-check';
import type { Json } from './helpers/template';

jest.setTimeout(120_000);

// asl-validator ships no types: its one export, as its README documents it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (
  definition: Json,
  options: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errors: Json[]; errorsText: (separator?: string) => string };

const validateAsl = (definition: Json) => aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });

let db: SpecDatabase;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const templates: Record<string, Json> = {};

/** Every state machine's definition, by logical id, references substituted: the training pipeline's and the batch scoring's. */
function definitionsOf(template: Json): Record<string, Json> {
  const machines = Object.entries(template.Resources as Record<string, Json>).filter(
    ([, r]) => r.Type === 'AWS::StepFunctions::StateMachine',
  );
  expect(machines.map(([id]) => id).sort()).toEqual([
    expect.stringMatching(/^BatchStateMachine/),
    expect.stringMatching(/^TrainingStateMachine/),
  ]);
  return Object.fromEntries(
    machines.map(([id, m]) => [id, JSON.parse(resolveReferences(template, m.Properties.DefinitionString) as string) as Json]),
  );
}

/** The training pipeline's definition, references substituted. */
function definitionOf(template: Json): Json {
  return Object.entries(definitionsOf(template)).find(([id]) => id.startsWith('TrainingStateMachine'))![1];
}

beforeAll(() => {
  db = loadAwsServiceSpecSync();
  for (const [label, context] of [
    ['default', {}],
    ['requireApproval, CloudWatch role', { 'mloop:requireApproval': true, 'mloop:apiCloudWatchRole': true }],
  ] as const) {
    const app = inProcessApp(undefined, context);
    const stack = buildApp(app, { nag: false });
    templates[label] = Template.fromStack(stack).toJSON();
  }
});

describe.each(['default', 'requireApproval, CloudWatch role'])('the synthesized stack (%s)', (label) => {
  test('its state machines are valid Amazon States Language (asl-validator, ARNs and paths checked)', () => {
    for (const [id, definition] of Object.entries(definitionsOf(templates[label]))) {
      // The substitution left no CloudFormation reference behind: the validator reads real ARNs.
      expect(JSON.stringify(definition)).not.toMatch(/Fn::|"Ref"/);
      expect(JSON.stringify(definition)).toMatch(/arn:aws:lambda:us-east-1:123456789012:function:/);
      const result = validateAsl(definition);
      expect(`${id}: ${result.errorsText('\n')}`).toBe(`${id}: `);
      expect(result.isValid).toBe(true);
    }
  });

  test("every resource matches CloudFormation's specification and every reference resolves", () => {
    expect(checkTemplate(db, templates[label])).toEqual([]);
  });
});

describe('the checks fail on broken input (so that passing means something)', () => {
  test('asl-validator refuses a transition to a missing state and a malformed Lambda ARN', () => {
    const definition = definitionOf(templates.default);
    definition.States['Ingest dataset'].Catch[0].Next = 'No such state';
    const missing = validateAsl(definition);
    expect(missing.isValid).toBe(false);
    expect(missing.errorsText()).toMatch(/No such state/);

    const badArn = definitionOf(templates.default);
    badArn.States['Ingest dataset'].Resource = 'arn:aws:lambda:us-east-1:function';
    expect(validateAsl(badArn).isValid).toBe(false);
  });

  test('the specification check names an unknown property, a missing required one, a wrong type, a dangling Ref and an unknown attribute', () => {
    const template = structuredClone(templates.default);
    const [queueId] = Object.entries(template.Resources as Record<string, Json>).find(([, r]) => r.Type === 'AWS::SQS::Queue')!;
    const [fnId, fn] = Object.entries(template.Resources as Record<string, Json>).find(
      ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment,
    )!;
    template.Resources[queueId].Properties.RetentionPeriod = 3600; // MessageRetentionPeriod is the real name
    delete fn.Properties.Role;
    fn.Properties.MemorySize = 'lots';
    fn.Properties.Environment.Variables.BROKEN = { Ref: 'NoSuchResource' };
    fn.Properties.Description = { 'Fn::GetAtt': [queueId, 'Url'] };
    template.Resources.Strange = { Type: 'AWS::Nothing::Here', Properties: {} };

    const findings = checkTemplate(db, template);
    const fnWhere = `${fnId} (AWS::Lambda::Function).Properties`;
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^${queueId} \\(AWS::SQS::Queue\\)\\.Properties: 'RetentionPeriod' is no property of this type \\(known: .*MessageRetentionPeriod.*\\)\\.$`,
          ),
        ),
        `${fnWhere}: the required property 'Role' is missing.`,
        `${fnWhere}.MemorySize: expected an integer, got "lots".`,
        `${fnWhere}.Environment.Variables.BROKEN: Ref 'NoSuchResource' names no resource, parameter or pseudo parameter.`,
        expect.stringMatching(
          new RegExp(`^${escape(fnWhere)}\\.Description: AWS::SQS::Queue '${queueId}' has no attribute 'Url' \\(it has: .*Arn.*\\)\\.$`),
        ),
        "Strange (AWS::Nothing::Here): no such resource type in CloudFormation's specification.",
      ]),
    );
    expect(findings).toHaveLength(6);
  });
});
