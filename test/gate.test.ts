/**
 * Per-model gate margins: parsed from the Evaluate function's GATE_CONFIG, filled by the
 * `gateByModel` CDK prop, and validated at synth with a sentence that names the field.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { inProcessApp } from '../lib/app';
import { FUNCTION_METADATA_KEY } from '../lib/function-catalog';
import { MloopStack } from '../lib/mloop-stack';
import { marginFor, parseGateConfig } from '../lambdas/registry/gate';
import { compareWithChampion } from '../lambdas/registry/metrics';

describe('GATE_CONFIG', () => {
  test('absent or empty means no per-model settings', () => {
    expect(parseGateConfig(undefined)).toEqual({});
    expect(parseGateConfig('  ')).toEqual({});
  });

  test('a model named in it gets its own margin; the others keep the default', () => {
    const config = parseGateConfig('{"churn": {"minImprovement": 0.02}}');
    expect(marginFor('churn', config, 0)).toBe(0.02);
    expect(marginFor('fraud', config, 0.005)).toBe(0.005);
  });

  test('the per-model margin decides the gate: better by less than it is not better', () => {
    const margin = marginFor('churn', parseGateConfig('{"churn": {"minImprovement": 0.02}}'), 0);
    const decision = compareWithChampion('classification', { accuracy: 0.91 }, { accuracy: 0.9 }, margin);
    expect(decision.better).toBe(false);
    expect(decision.reason).toBe('Candidate accuracy 0.910 is better than champion accuracy 0.900 but not by more than the margin 0.02.');
  });

  test('invalid JSON is refused with the reason', () => {
    expect(() => parseGateConfig('{churn')).toThrow(/^GATE_CONFIG is not valid JSON: /);
  });

  test('a negative margin is refused, naming the model and field', () => {
    expect(() => parseGateConfig('{"churn": {"minImprovement": -1}}')).toThrow(/^GATE_CONFIG\.churn\.minImprovement: /);
  });

  test('an unknown setting is refused, naming the model', () => {
    expect(() => parseGateConfig('{"churn": {"minImprovement": 0, "margin": 1}}')).toThrow(/^GATE_CONFIG\.churn: .*margin/);
  });

  test('a key that is not a model name is refused', () => {
    expect(() => parseGateConfig('{"Churn Model": {"minImprovement": 0}}')).toThrow(/^GATE_CONFIG\.Churn Model: /);
  });
});

describe('the gateByModel prop', () => {
  test('reaches the Evaluate function as GATE_CONFIG beside MIN_IMPROVEMENT', () => {
    const app = inProcessApp();
    const stack = new MloopStack(app, 'Gate', { training: { minImprovement: 0.001, gateByModel: { churn: { minImprovement: 0.02 } } } });
    const template = Template.fromStack(stack);
    const evaluate = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (r) => r.Metadata?.[FUNCTION_METADATA_KEY] === 'evaluate',
    );
    expect(evaluate?.Properties.Environment.Variables).toMatchObject({
      MIN_IMPROVEMENT: '0.001',
      GATE_CONFIG: JSON.stringify({ churn: { minImprovement: 0.02 } }),
    });
  });

  test('is absent from the environment when not set', () => {
    const app = inProcessApp();
    const template = Template.fromStack(new MloopStack(app, 'NoGate'));
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MIN_IMPROVEMENT: '0', GATE_CONFIG: Match.absent() }) },
    });
  });

  test('with a negative margin fails at synth, naming the field', () => {
    const app = inProcessApp();
    expect(() => new MloopStack(app, 'BadGate', { training: { gateByModel: { churn: { minImprovement: -0.1 } } } })).toThrow(
      /^gateByModel\.churn\.minImprovement: /,
    );
  });

  test('with a name that is not a model name fails at synth', () => {
    const app = inProcessApp();
    expect(() => new MloopStack(app, 'BadName', { training: { gateByModel: { 'Churn!': { minImprovement: 0 } } } })).toThrow(
      /^gateByModel\.Churn!: /,
    );
  });
});
