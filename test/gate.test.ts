/**
 * Per-model gate margins: parsed from the Evaluate function's GATE_CONFIG, filled by the
 * `gateByModel` CDK prop, and validated at synth with a sentence that names the field.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { inProcessApp } from '../lib/app';
import { FUNCTION_METADATA_KEY } from '../lib/function-catalog';
import { MloopStack } from '../lib/mloop-stack';
import { marginFor, parseGateConfig } from '../lambdas/registry/gate';
import { classificationMetrics, compareWithChampion } from '../lambdas/registry/metrics';
import { baselineMetrics } from '../lambdas/registry/scoring';

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

describe('the classification gate weighs macro-F1 as well as accuracy', () => {
  // Imbalanced truth: 90 'a', 6 'b', 4 'c'.
  const truth = [...Array(90).fill('a'), ...Array(6).fill('b'), ...Array(4).fill('c')] as string[];
  const classes = ['a', 'b', 'c'];
  const confident = (label: string) => classes.map((c) => (c === label ? 0.9 : 0.05));
  /** Predicts 'a' for every row: the majority-only model. */
  const majorityOnly = classificationMetrics(
    truth,
    truth.map(() => confident('a')),
    classes,
  );
  /** Finds most minority rows at the cost of a few majority ones: 3 'a' rows called 'b', 1 'b' and 1 'c' missed. */
  const useful = classificationMetrics(
    truth,
    truth.map((t, i) => confident(i < 3 ? 'b' : t === 'b' && i === 90 ? 'a' : t === 'c' && i === 96 ? 'a' : t)),
    classes,
  );

  test('the two models of the example: the majority-only one has the higher accuracy, the useful one the far higher macro-F1', () => {
    expect(majorityOnly.accuracy).toBeCloseTo(0.9, 10);
    expect(useful.accuracy).toBeCloseTo(0.95, 10);
    expect(useful.macro_f1).toBeGreaterThan(0.8);
    expect(majorityOnly.macro_f1).toBeLessThan(0.35);
  });

  test('a majority-only candidate is not promoted over a useful champion, even with higher accuracy', () => {
    const candidate = { ...majorityOnly, accuracy: 0.96 };
    const decision = compareWithChampion('classification', candidate, useful, 0);
    expect(decision.better).toBe(false);
    expect(decision.reason).toBe(
      `Candidate accuracy 0.960 beats champion accuracy 0.950, but candidate macro-F1 ${majorityOnly.macro_f1.toFixed(3)} is below champion macro-F1 ${useful.macro_f1.toFixed(3)} by more than the margin 0 (it tells the classes apart less well).`,
    );
  });

  test('a majority-only candidate does not beat the constant baseline', () => {
    const baseline = baselineMetrics('classification', truth, classes);
    expect(compareWithChampion('classification', majorityOnly, baseline, 0).better).toBe(false);
  });

  test('a useful candidate is promoted over a majority-only champion, by accuracy with its macro-F1 reported', () => {
    const decision = compareWithChampion('classification', useful, majorityOnly, 0);
    expect(decision).toMatchObject({ better: true, metric: 'accuracy' });
    expect(decision.reason).toMatch(
      /^Candidate accuracy 0\.950 beats champion accuracy 0\.900 \(margin 0\); macro-F1 0\.\d+ against 0\.\d+\.$/,
    );
  });

  test('a candidate that improves macro-F1 at equal accuracy is promoted, and the decision names macro_f1', () => {
    const decision = compareWithChampion('classification', { accuracy: 0.9, macro_f1: 0.6 }, { accuracy: 0.9, macro_f1: 0.5 }, 0.02);
    expect(decision).toMatchObject({ better: true, metric: 'macro_f1', candidate: 0.6, champion: 0.5 });
    expect(decision.reason).toBe(
      'Candidate macro-F1 0.600 beats champion macro-F1 0.500 (margin 0.02), and accuracy 0.900 against 0.900 is not lower by more than the margin.',
    );
  });

  test('a macro-F1 gain does not excuse an accuracy loss beyond the margin', () => {
    const decision = compareWithChampion('classification', { accuracy: 0.85, macro_f1: 0.7 }, { accuracy: 0.9, macro_f1: 0.5 }, 0.02);
    expect(decision.better).toBe(false);
    expect(decision.reason).toBe(
      'Candidate macro-F1 0.700 beats champion macro-F1 0.500, but candidate accuracy 0.850 is below champion accuracy 0.900 by more than the margin 0.02.',
    );
  });

  test('neither better by more than the margin is not better', () => {
    const decision = compareWithChampion('classification', { accuracy: 0.905, macro_f1: 0.51 }, { accuracy: 0.9, macro_f1: 0.5 }, 0.02);
    expect(decision.better).toBe(false);
    expect(decision.reason).toBe(
      'Neither candidate accuracy 0.905 (champion 0.900) nor candidate macro-F1 0.510 (champion 0.500) is better by more than the margin 0.02.',
    );
  });

  test('a champion without macro-F1 (an older record) is compared on accuracy alone; regression is unchanged', () => {
    expect(compareWithChampion('classification', { accuracy: 0.91, macro_f1: 0.1 }, { accuracy: 0.9 }, 0).better).toBe(true);
    expect(compareWithChampion('regression', { rmse: 1, macro_f1: 0 }, { rmse: 2, macro_f1: 1 }, 0)).toMatchObject({
      better: true,
      metric: 'rmse',
    });
  });
});
