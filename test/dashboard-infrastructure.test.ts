/**
 * The operators' CloudWatch dashboard (lib/dashboard.ts) in the synthesized stack: the dashboard
 * exists, its name is a stack output, and its body (a Fn::Join of text and references, rendered
 * and parsed here) graphs each metric an operator watches, with the dimensions that find it.
 */
import { App, Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Stack } from 'aws-cdk-lib';
import { buildApp, inProcessApp } from '../lib/app';
import { OperatorDashboard } from '../lib/dashboard';
import { MloopStack } from '../lib/mloop-stack';
import { logicalIdOf, renderText, resourcesOfType, type Json } from './helpers/template';

jest.setTimeout(120_000);

/** One line of a graph: a metric (namespace, name, dimensions, options) or an expression. */
interface Line {
  readonly namespace?: string;
  readonly name?: string;
  readonly dimensions?: Record<string, string>;
  readonly expression?: string;
  readonly stat?: string;
  readonly label?: string;
  readonly visible?: boolean;
}

interface Widget {
  readonly type: string;
  readonly title: string;
  readonly lines: Line[];
  readonly alarms: string[];
}

/** The dashboard's widgets, from its DashboardBody (Fn::Join rendered: references become `${Id}`). */
function widgetsOf(template: Template): Widget[] {
  const dashboards = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
  expect(dashboards).toHaveLength(1);
  const body = JSON.parse(renderText(dashboards[0].resource.Properties.DashboardBody)) as { widgets: Json[] };
  return body.widgets.map((widget: Json) => ({
    type: widget.type,
    title: widget.properties.title,
    alarms: widget.properties.alarms ?? [],
    lines: (widget.properties.metrics ?? []).map((entry: Json[]): Line => {
      const options = typeof entry[entry.length - 1] === 'object' ? (entry[entry.length - 1] as Record<string, Json>) : {};
      if (typeof entry[0] === 'object') return { ...options };
      const names = entry.filter((part) => typeof part === 'string') as string[];
      const dimensions: Record<string, string> = {};
      for (let i = 2; i + 1 < names.length; i += 2) dimensions[names[i]] = names[i + 1];
      return { namespace: names[0], name: names[1], dimensions, ...options };
    }),
  }));
}

function widget(widgets: Widget[], title: string): Widget {
  const found = widgets.filter((w) => w.title === title);
  if (found.length !== 1)
    throw new Error(`expected one widget titled '${title}', found ${found.length}: ${widgets.map((w) => w.title).join(', ')}`);
  return found[0];
}

describe('the operators dashboard of the default stack', () => {
  let stack: MloopStack;
  let template: Template;
  let widgets: Widget[];

  beforeAll(() => {
    stack = buildApp(inProcessApp());
    template = Template.fromStack(stack);
    widgets = widgetsOf(template);
  });

  test('is one dashboard whose name is the DashboardName output, with a description', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: Json; Description: string }>;
    expect(outputs.DashboardName.Value).toEqual({ Ref: logicalIdOf(stack, stack.dashboard.dashboard) });
    expect(outputs.DashboardName.Description).toMatch(/CloudWatch dashboard/);
  });

  test("graphs the pipeline's executions started, succeeded and failed, from its state machine", () => {
    const lines = widget(widgets, 'Pipeline executions').lines;
    const machine = `\${${logicalIdOf(stack, stack.pipeline.stateMachine)}}`;
    expect(lines.map((l) => [l.namespace, l.name, l.dimensions?.StateMachineArn, l.stat])).toEqual([
      ['AWS/States', 'ExecutionsStarted', machine, 'Sum'],
      ['AWS/States', 'ExecutionsSucceeded', machine, 'Sum'],
      ['AWS/States', 'ExecutionsFailed', machine, 'Sum'],
      ['AWS/States', 'ExecutionsTimedOut', machine, 'Sum'],
      ['AWS/States', 'ExecutionsAborted', machine, 'Sum'],
    ]);
  });

  test('shows the state of every alarm of the stack', () => {
    const alarms = widget(widgets, 'Alarms');
    expect(alarms.type).toBe('alarm');
    const expected = [stack.monitor.datasetDriftAlarm, stack.monitor.qualityDropAlarm, stack.monitor.predictionDriftAlarm].map(
      (alarm) => `\${${logicalIdOf(stack, alarm)}.Arn}`,
    );
    expect([...alarms.alarms].sort()).toEqual([...expected].sort());
    expect(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).toHaveLength(expected.length);
  });

  test("graphs training job minutes and instance hours from the SageMaker integration's time", () => {
    const integration = { ServiceIntegrationResourceArn: 'arn:${AWS::Partition}:states:::sagemaker:createTrainingJob.sync' };
    const duration = widget(widgets, 'Training job duration (minutes)').lines;
    expect(duration.filter((l) => l.expression).map((l) => l.label)).toEqual(['average', 'longest']);
    // A graph line without a stat is CloudWatch's default, Average (CDK leaves the default out).
    expect(duration.filter((l) => l.name).map((l) => [l.namespace, l.name, l.dimensions, l.stat ?? 'Average'])).toEqual([
      ['AWS/States', 'ServiceIntegrationTime', integration, 'Average'],
      ['AWS/States', 'ServiceIntegrationTime', integration, 'Maximum'],
    ]);
    const hours = widget(widgets, 'Training instance hours').lines;
    expect(hours.find((l) => l.expression)?.expression).toBe('total / 3600000 * 1');
    expect(hours.find((l) => l.name)).toMatchObject({ name: 'ServiceIntegrationTime', dimensions: integration, stat: 'Sum' });
  });

  test("graphs ingestion's rows and its accepted and rejected versions, as the ingest functions publish them", () => {
    const ingest = [...widget(widgets, 'Ingested rows').lines, ...widget(widgets, 'Dataset versions accepted and rejected').lines];
    expect(ingest.map((l) => [l.namespace, l.name, l.dimensions, l.stat])).toEqual(
      ['DatasetRows', 'RejectedRows', 'DatasetsAccepted', 'DatasetsRejected'].map((name) => [
        'mloop',
        name,
        { service: 'mloop-ingest' },
        'Sum',
      ]),
    );
  });

  test("graphs the API's latency p50 and p99 and its 4xx and 5xx answers", () => {
    const api = { ApiName: expect.any(String) };
    expect(widget(widgets, 'Predict latency (ms)').lines.map((l) => [l.name, l.dimensions, l.stat])).toEqual([
      ['Latency', api, 'p50'],
      ['Latency', api, 'p99'],
    ]);
    expect(widget(widgets, 'API errors').lines.map((l) => [l.name, l.label])).toEqual([
      ['4XXError', '4xx'],
      ['5XXError', '5xx'],
    ]);
  });

  test("graphs the throttles of every mloop function, the predict function's among them", () => {
    const lines = widget(widgets, 'Lambda throttles').lines;
    const functions = resourcesOfType(template, 'AWS::Lambda::Function').filter((f) => f.resource.Metadata?.['mloop:function']);
    expect(lines).toHaveLength(functions.length);
    expect(lines.every((l) => l.namespace === 'AWS/Lambda' && l.name === 'Throttles' && l.stat === 'Sum')).toBe(true);
    expect(lines.map((l) => l.dimensions?.FunctionName)).toContain(`\${${logicalIdOf(stack, stack.inference.function)}}`);
  });

  test("graphs each model's drift share and captured rows with a SEARCH over the drift monitor's model dimension", () => {
    expect(widget(widgets, 'Drift share per model').lines.map((l) => l.expression)).toEqual([
      `SEARCH('{mloop,model,service} MetricName="DriftShare"', 'Maximum', 3600)`,
    ]);
    expect(widget(widgets, 'Captured rows per model (read by each drift run)').lines.map((l) => l.expression)).toEqual([
      `SEARCH('{mloop,model,service} MetricName="CapturedRows"', 'Sum', 3600)`,
    ]);
  });
});

describe('the operators dashboard with settings', () => {
  test("takes the stack's dashboard name, the drift namespace and the training instance count", () => {
    const stack = new MloopStack(inProcessApp(), 'Named', {
      dashboardName: 'mloop-ops',
      monitoring: { metricsNamespace: 'team-ml' },
      training: { instanceCount: 3 },
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'mloop-ops' });
    const widgets = widgetsOf(template);
    expect(widget(widgets, 'Drift share per model').lines[0].expression).toContain('{team-ml,model,service}');
    expect(widget(widgets, 'Training instance hours').lines.find((l) => l.expression)?.expression).toBe('total / 3600000 * 3');
  });

  test('refuses a training instance count that is not a positive integer, saying what it got', () => {
    const stack = new Stack(new App(), 'Bare');
    const pipeline = new sfn.StateMachine(stack, 'Machine', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Pass')),
    });
    const api = new apigw.RestApi(stack, 'Api');
    api.root.addMethod('GET');
    expect(
      () =>
        new OperatorDashboard(stack, 'Ops', {
          pipeline,
          api,
          trainingInstanceCount: 0.5,
          functions: [],
          alarms: [],
          period: Duration.minutes(1),
        }),
    ).toThrow('trainingInstanceCount must be a positive integer, got 0.5.');
  });
});
