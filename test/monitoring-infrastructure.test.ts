/**
 * The drift monitor's part of the CDK stack: its environment from the props, what it may read and
 * write (retraining adds datasets/ and splits/ only when enabled), and the alarms on the metrics
 * published across models, notifying the registry's KMS-encrypted topic. Logical ids are found
 * through constructs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration, Validations, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildApp, inProcessApp } from '../lib/app';
import { MloopStack } from '../lib/mloop-stack';
import { acknowledgementsWithoutReason, synthWithNag } from './helpers/nag';
import { allows, mloopFunction, resourcesGranted, roleStatements, logicalIdOf } from './helpers/template';

jest.setTimeout(120_000);

const idOf = logicalIdOf;

let stack: MloopStack;
let template: Template;

beforeAll(() => {
  stack = buildApp(inProcessApp());
  template = Template.fromStack(stack);
});

const objectArn = (key: string, s: MloopStack = stack) => `\${${idOf(s, s.dataLake.bucket)}.Arn}/${key}`;

describe('the drift function, by default', () => {
  test('leaves the retraining and drift-config variables to the handler defaults', () => {
    const variables = mloopFunction(template, 'drift').resource.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).toMatchObject({ DRIFT_THRESHOLD: '0.2', DRIFT_SHARE_THRESHOLD: '0.5', METRICS_NAMESPACE: 'mloop' });
    for (const name of ['DRIFT_CONFIG', 'RETRAIN_ON_DRIFT', 'RETRAIN_COOLDOWN_SECONDS', 'RETRAIN_MIN_FEEDBACK_ROWS'])
      expect(variables[name]).toBeUndefined();
  });

  test('reads feedback labels and prediction profiles, and cannot drop datasets', () => {
    const statements = roleStatements(template, mloopFunction(template, 'drift').roleId);
    expect(allows(statements, 's3:GetObject', objectArn('feedback/churn/2025/01/01/00/1-a.jsonl'))).toBe(true);
    expect(allows(statements, 's3:GetObject', objectArn('candidates/churn/exec/prediction-profile.json'))).toBe(true);
    expect(allows(statements, 's3:PutObject', objectArn('datasets/churn/retrain-x.csv'))).toBe(false);
    expect(allows(statements, 's3:GetObject', objectArn('splits/churn/v1/train/train.csv'))).toBe(false);
  });
});

describe('the alarms', () => {
  const alarms = () => template.findResources('AWS::CloudWatch::Alarm');

  test.each([
    ['DatasetDriftAlarm', 'DriftShare', 0.5],
    ['QualityDropAlarm', 'QualityDrop', 1],
    ['PredictionDriftAlarm', 'PredictionDrift', 1],
  ])('%s watches the worst model: Maximum of %s without the model dimension, at %p or more', (name, metric, threshold) => {
    const alarm = (stack.monitor as unknown as Record<string, IConstruct>)[name.charAt(0).toLowerCase() + name.slice(1)];
    const found = alarms()[idOf(stack, alarm)];
    expect(found.Properties).toMatchObject({
      Namespace: 'mloop',
      MetricName: metric,
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      Dimensions: [{ Name: 'service', Value: 'mloop-drift' }],
      AlarmActions: [{ Ref: idOf(stack, stack.registry.topic) }],
    });
  });

  test("notify the registry's topic, which CloudWatch may publish to and whose key it may use", () => {
    expect(stack.monitor.alarmTopic).toBe(stack.registry.topic);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: idOf(stack, stack.registry.topic) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }),
        ]),
      },
    });
    const key = template.toJSON().Resources[idOf(stack, stack.registry.topicKey)];
    expect(key.Properties.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    );
  });
});

describe('with retraining, a drift configuration and no topic given', () => {
  let custom: MloopStack;
  let customTemplate: Template;
  const config = {
    thresholds: { ks: 0.01 },
    features: { support_calls: { test: 'psi' as const, threshold: 0.3 } },
    models: { churn: { driftShare: 0.3 } },
  };

  beforeAll(() => {
    custom = new MloopStack(inProcessApp(), 'Custom', {
      monitoring: {
        retrainOnDrift: true,
        retrainCooldown: Duration.hours(6),
        retrainMinFeedbackRows: 50,
        driftConfig: config,
        alarmTopic: undefined,
      },
    });
    customTemplate = Template.fromStack(custom);
  });

  test('the environment carries the policy and the configuration', () => {
    expect(mloopFunction(customTemplate, 'drift').resource.Properties.Environment.Variables).toMatchObject({
      RETRAIN_ON_DRIFT: 'true',
      RETRAIN_COOLDOWN_SECONDS: '21600',
      RETRAIN_MIN_FEEDBACK_ROWS: '50',
      DRIFT_CONFIG: JSON.stringify(config),
    });
  });

  test('the function may drop retraining datasets and read splits, and still put nothing else', () => {
    const statements = roleStatements(customTemplate, mloopFunction(customTemplate, 'drift').roleId);
    expect(resourcesGranted(statements, 's3:PutObject')).toEqual(
      [objectArn('datasets/*', custom), objectArn('monitoring/*', custom)].sort(),
    );
    expect(allows(statements, 's3:GetObject', objectArn('splits/churn/v3/test/test.csv', custom))).toBe(true);
    expect(allows(statements, 's3:DeleteObject', objectArn('datasets/churn/retrain-x.csv', custom))).toBe(false);
  });

  test('a bad drift configuration fails at synth, naming the problem', () => {
    expect(() => new MloopStack(inProcessApp(), 'Bad', { monitoring: { driftConfig: { thresholds: { ks: -1 } } } })).toThrow(
      /thresholds\.ks/,
    );
    expect(() => new MloopStack(inProcessApp(), 'Bad2', { monitoring: { driftConfig: { threshold: 0.1 } } })).toThrow(/without a test/);
  });

  test('every cdk-nag finding is acknowledged', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-nag-monitoring-'));
    const spies = [jest.spyOn(console, 'error').mockImplementation(() => {}), jest.spyOn(console, 'warn').mockImplementation(() => {})];
    try {
      const app = inProcessApp(outdir);
      const built = new MloopStack(app, 'Retraining', { monitoring: { retrainOnDrift: true } });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(synthWithNag(app)).toEqual({ runs: 1, errors: [], warnings: [] });
      expect(acknowledgementsWithoutReason(built)).toEqual([]);
    } finally {
      for (const spy of spies) spy.mockRestore();
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('a drift monitor without a topic', () => {
  test('creates its own topic, KMS-encrypted with a rotating key, TLS only', async () => {
    const { DriftMonitor } = await import('../lib/monitoring');
    const app = inProcessApp();
    const host = new MloopStack(app, 'Host');
    const own = new DriftMonitor(host, 'Own', { bucket: host.dataLake.bucket, table: host.registry.table });
    const t = Template.fromStack(host);
    const topicId = host.getLogicalId((own.alarmTopic as unknown as IConstruct).node.defaultChild as CfnElement);
    const topic = t.toJSON().Resources[topicId];
    expect(topic.Type).toBe('AWS::SNS::Topic');
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0];
    expect(t.toJSON().Resources[keyId].Properties.EnableKeyRotation).toBe(true);
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });
});
