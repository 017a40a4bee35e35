/**
 * The inference API's CDK construct beyond what test/infrastructure.test.ts covers: the model
 * and feedback routes, the capture and shadow settings, and authorization options (IAM by
 * default, an API key with a usage plan as an option), each asserted on the synthesized template.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp, inProcessApp } from '../lib/app';
import type { InferenceApiProps } from '../lib/inference';
import { MloopStack } from '../lib/mloop-stack';
import { predictEnv } from '../lambdas/shared/env';
import { acknowledgementsWithoutReason, synthWithNag } from './helpers/nag';
import {
  allows,
  apiMethod,
  arnText,
  mloopFunction,
  renderText,
  resourcesGranted,
  resourcesOfType,
  roleStatements,
  theResource,
  type Json,
  logicalIdOf,
} from './helpers/template';

jest.setTimeout(120_000);

const ROUTES: [string, string][] = [
  ['GET', '/v1/health'],
  ['GET', '/v1/models/{name}'],
  ['POST', '/v1/models/{name}/predict'],
  ['POST', '/v1/models/{name}/feedback'],
];

function synth(inference: Omit<InferenceApiProps, 'bucket' | 'table'> = {}): { stack: MloopStack; template: Template } {
  const stack = new MloopStack(inProcessApp(), 'Mloop', { inference });
  return { stack, template: Template.fromStack(stack) };
}

let stack: MloopStack;
let template: Template;

beforeAll(() => {
  stack = buildApp(inProcessApp());
  template = Template.fromStack(stack);
});

const idOf = logicalIdOf;
const predictEnvironment = (t: Template): Record<string, string> => mloopFunction(t, 'predict').resource.Properties.Environment.Variables;

describe('routes', () => {
  test('every route requires IAM (SigV4) authorization by default, and no API key', () => {
    for (const [verb, route] of ROUTES) {
      const props = apiMethod(template, verb, route).resource.Properties;
      expect([verb, route, props.AuthorizationType, props.ApiKeyRequired ?? false]).toEqual([verb, route, 'AWS_IAM', false]);
    }
    expect(resourcesOfType(template, 'AWS::ApiGateway::ApiKey')).toEqual([]);
    expect(resourcesOfType(template, 'AWS::ApiGateway::UsagePlan')).toEqual([]);
  });

  test('GET /v1/models/{name} and POST /v1/models/{name}/feedback are proxied to the predict function', () => {
    const predictArn = arnText(mloopFunction(template, 'predict').logicalId);
    for (const [verb, route] of ROUTES.slice(1)) {
      const integration = apiMethod(template, verb, route).resource.Properties.Integration;
      expect([route, integration.Type]).toEqual([route, 'AWS_PROXY']);
      expect(renderText(integration.Uri)).toContain(`/functions/${predictArn}/invocations`);
    }
  });

  test('the model routes require the name path parameter', () => {
    for (const [verb, route] of ROUTES.slice(1)) {
      expect([route, apiMethod(template, verb, route).resource.Properties.RequestParameters]).toEqual([
        route,
        { 'method.request.path.name': true },
      ]);
    }
  });

  test('the feedback body is validated against a request model before the function runs', () => {
    const method = apiMethod(template, 'POST', '/v1/models/{name}/feedback').resource.Properties;
    const resources = template.toJSON().Resources as Record<string, Json>;
    expect(resources[method.RequestValidatorId.Ref].Properties.ValidateRequestBody).toBe(true);
    const model = resources[method.RequestModels['application/json'].Ref];
    expect(model.Type).toBe('AWS::ApiGateway::Model');
    expect(model.Properties.Schema).toEqual(
      expect.objectContaining({
        type: 'object',
        required: ['feedback'],
        properties: {
          feedback: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'object', required: ['requestId', 'label'] } },
        },
      }),
    );
  });

  test('the feedback model follows maxBatch', () => {
    const t = synth({ maxBatch: 50 }).template;
    const method = apiMethod(t, 'POST', '/v1/models/{name}/feedback').resource.Properties;
    const model = (t.toJSON().Resources as Record<string, Json>)[method.RequestModels['application/json'].Ref];
    expect(model.Properties.Schema.properties.feedback.maxItems).toBe(50);
  });
});

describe('the predict function', () => {
  const dataBucketArn = () => arnText(idOf(stack, stack.dataLake.bucket));
  const statements = () => roleStatements(template, mloopFunction(template, 'predict').roleId);

  test('can put feedback objects, and cannot read them back', () => {
    expect(resourcesGranted(statements(), 's3:PutObject')).toEqual([`${dataBucketArn()}/capture/*`, `${dataBucketArn()}/feedback/*`]);
    expect(allows(statements(), 's3:PutObject', `${dataBucketArn()}/feedback/churn/2025/01/01/00/000001735689600000-abc.jsonl`)).toBe(true);
    expect(allows(statements(), 's3:GetObject', `${dataBucketArn()}/feedback/churn/x.jsonl`)).toBe(false);
  });

  test('gets the capture and shadow defaults: every request sampled, batches of 1000 lines or 10 s, no shadow traffic', () => {
    expect(predictEnvironment(template)).toEqual(
      expect.objectContaining({
        CAPTURE_ENABLED: 'true',
        CAPTURE_SAMPLE_RATE: '1',
        CAPTURE_BATCH_RECORDS: '1000',
        CAPTURE_FLUSH_SECONDS: '10',
        SHADOW_SHARE: '0',
      }),
    );
  });

  test('gets the capture and shadow props as its environment, which its contract accepts', () => {
    const variables = predictEnvironment(
      synth({ captureSampleRate: 0.25, captureBatchRecords: 200, captureFlushSeconds: 2.5, shadowShare: 0.1 }).template,
    );
    expect(variables).toEqual(
      expect.objectContaining({
        CAPTURE_SAMPLE_RATE: '0.25',
        CAPTURE_BATCH_RECORDS: '200',
        CAPTURE_FLUSH_SECONDS: '2.5',
        SHADOW_SHARE: '0.1',
      }),
    );
    const parsed = predictEnv.parse({ ...variables, DATA_BUCKET: 'b', REGISTRY_TABLE: 't' });
    expect([parsed.CAPTURE_SAMPLE_RATE, parsed.CAPTURE_BATCH_RECORDS, parsed.CAPTURE_FLUSH_SECONDS, parsed.SHADOW_SHARE]).toEqual([
      0.25, 200, 2.5, 0.1,
    ]);
  });

  test.each<[Omit<InferenceApiProps, 'bucket' | 'table'>, string]>([
    [{ captureSampleRate: 1.5 }, 'captureSampleRate must be between 0 and 1, got 1.5.'],
    [{ captureSampleRate: -0.1 }, 'captureSampleRate must be between 0 and 1, got -0.1.'],
    [{ shadowShare: 2 }, 'shadowShare must be between 0 and 1, got 2.'],
    [{ shadowShare: NaN }, 'shadowShare must be between 0 and 1, got NaN.'],
    [{ captureBatchRecords: 0 }, 'captureBatchRecords must be a positive integer, got 0.'],
    [{ captureFlushSeconds: -1 }, 'captureFlushSeconds must be 0 or more, got -1.'],
  ])('rejects %j', (inference, message) => {
    expect(() => synth(inference)).toThrow(message);
  });
});

describe('API key option', () => {
  test('apiKeyRequired: every method requires an API key as well as IAM', () => {
    const { template: t } = synth({ apiKeyRequired: true });
    for (const [verb, route] of ROUTES) {
      const props = apiMethod(t, verb, route).resource.Properties;
      expect([route, props.AuthorizationType, props.ApiKeyRequired]).toEqual([route, 'AWS_IAM', true]);
    }
  });

  test('apiKeyRequired: an API key in a usage plan that throttles at the stage limits', () => {
    const { stack: s, template: t } = synth({ apiKeyRequired: true, throttlingRateLimit: 20, throttlingBurstLimit: 40 });
    const key = theResource(t, 'AWS::ApiGateway::ApiKey');
    expect(key.resource.Properties.Enabled).toBe(true);
    const plan = theResource(t, 'AWS::ApiGateway::UsagePlan').resource.Properties;
    expect(plan.Throttle).toEqual({ RateLimit: 20, BurstLimit: 40 });
    expect(plan.ApiStages).toEqual([
      expect.objectContaining({ ApiId: { Ref: idOf(s, s.inference.api) }, Stage: { Ref: expect.any(String) } }),
    ]);
    const stageId = plan.ApiStages[0].Stage.Ref;
    expect((t.toJSON().Resources as Record<string, Json>)[stageId].Properties.StageName).toBe('v1');
    const planKey = theResource(t, 'AWS::ApiGateway::UsagePlanKey').resource.Properties;
    expect(planKey).toEqual(
      expect.objectContaining({ KeyId: { Ref: key.logicalId }, KeyType: 'API_KEY', UsagePlanId: { Ref: expect.any(String) } }),
    );
    // The key's id is an output: its value is read with `aws apigateway get-api-key --include-value`.
    expect(Object.values(t.toJSON().Outputs as Record<string, Json>).some((o) => o.Value?.Ref === key.logicalId)).toBe(true);
  });

  test('iamAuthorization: false with apiKeyRequired: the API key alone authorizes', () => {
    const { template: t } = synth({ apiKeyRequired: true, iamAuthorization: false });
    for (const [verb, route] of ROUTES) {
      const props = apiMethod(t, verb, route).resource.Properties;
      expect([route, props.AuthorizationType, props.ApiKeyRequired]).toEqual([route, 'NONE', true]);
    }
  });

  test('authorization cannot be turned off altogether', () => {
    expect(() => synth({ iamAuthorization: false })).toThrow(
      'The API must require IAM authorization, an API key, or both: iamAuthorization is false and apiKeyRequired is not set.',
    );
  });

  test('cdk-nag passes with each authorization option (every new finding is acknowledged with its reason)', () => {
    for (const inference of [{ apiKeyRequired: true }, { apiKeyRequired: true, iamAuthorization: false }]) {
      const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'mloop-nag-'));
      const errors = jest.spyOn(console, 'error').mockImplementation(() => {});
      try {
        const app = inProcessApp(outdir);
        const built = new MloopStack(app, 'Mloop', { inference });
        Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
        expect([inference, synthWithNag(app)]).toEqual([inference, { runs: 1, errors: [], warnings: [] }]);
        expect([inference, acknowledgementsWithoutReason(built)]).toEqual([inference, []]);
      } finally {
        errors.mockRestore();
        fs.rmSync(outdir, { recursive: true, force: true });
      }
    }
  });
});

describe("API Gateway's account-wide CloudWatch role", () => {
  test('is left alone by default: no AWS::ApiGateway::Account overwrites the role another stack set', () => {
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });

  test('is set when asked, by the prop or the context key', () => {
    synth({ cloudWatchRole: true }).template.resourceCountIs('AWS::ApiGateway::Account', 1);
    const app = inProcessApp();
    app.node.setContext('mloop:apiCloudWatchRole', 'true');
    const withContext = Template.fromStack(buildApp(app));
    withContext.resourceCountIs('AWS::ApiGateway::Account', 1);
    withContext.hasResourceProperties('AWS::ApiGateway::Account', {
      CloudWatchRoleArn: Match.objectLike({ 'Fn::GetAtt': Match.anyValue() }),
    });
  });
});
