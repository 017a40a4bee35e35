/**
 * SageMaker's CreateTrainingJob limits on hyperparameters, checked at ingest for
 * datasets/<model>/hyperparameters.json (lambdas/data/hyperparameters.ts) with the pipeline's
 * five and the stack's prop counted in: exactly the maximum is accepted, one more is refused with
 * a message naming the file, the key or the count.
 */
import { hyperparameterViolation, MAX_HYPERPARAMETERS_BYTES, PIPELINE_HYPERPARAMETERS } from '../lambdas/data/hyperparameter-limits';
import { parseHyperparameters } from '../lambdas/data/hyperparameters';

const SOURCE = 's3://b/datasets/m/hyperparameters.json';
const many = (n: number, prefix = 'hp') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));
const parse = (value: object, stackNames: string[] = []) => parseHyperparameters(JSON.stringify(value), SOURCE, stackNames);

describe('how many', () => {
  test('takes 95 in the file: 100 with the five the pipeline sets', () => {
    expect(PIPELINE_HYPERPARAMETERS).toHaveLength(5);
    expect(Object.keys(parse(many(95)))).toHaveLength(95);
  });

  test('refuses 96, naming the file, the counts and how many to remove', () => {
    expect(() => parse(many(96))).toThrow(
      `${SOURCE} has 96 hyperparameters; with the 5 the pipeline sets (sagemaker_program, sagemaker_submit_directory, sagemaker_region, target, task) a training job would get 101; SageMaker takes at most 100: remove 1.`,
    );
    expect(() => parse(many(96))).toThrow(expect.objectContaining({ name: 'InvalidInput' }));
  });

  test("counts the stack's prop, once for the names the file overrides", () => {
    const stack = ['epochs', 'lr', 'hidden', 'dropout', 'batch'];
    // 90 + epochs and lr (overridden) = 92 in the file; with hidden, dropout, batch and the five: 100.
    expect(Object.keys(parse({ ...many(90), epochs: 5, lr: 0.1 }, stack))).toHaveLength(92);
    expect(() => parse({ ...many(91), epochs: 5, lr: 0.1 }, stack)).toThrow(
      /has 93 hyperparameters; with the 5 the pipeline sets \(.*\) and 3 more from the other set a training job would get 101; SageMaker takes at most 100: remove 1\./,
    );
  });

  test('refuses more than 100 in the file alone before looking at names', () => {
    expect(() => parse({ ...many(100), target: 'y' })).toThrow(`${SOURCE} has 101 hyperparameters; SageMaker takes at most 100.`);
  });
});

describe('how long', () => {
  test('takes a value of 2,500 characters and a name of 256', () => {
    const name = 'n'.repeat(256);
    expect(parse({ [name]: 'v'.repeat(2500) })[name]).toHaveLength(2500);
  });

  test('refuses a value of 2,501 characters, naming the key', () => {
    expect(() => parse({ ok: 1, note: 'v'.repeat(2501) })).toThrow(
      `${SOURCE}: hyperparameter 'note' must be at most 2500 characters long (SageMaker's limit), got 2501.`,
    );
  });

  test('refuses a name of 257 characters, showing its start', () => {
    expect(() => parse({ ['n'.repeat(257)]: 1 })).toThrow(
      `${SOURCE}: hyperparameter name '${'n'.repeat(40)}...' must be 1 to 256 characters long and not blank (SageMaker's limit), got 257.`,
    );
  });

  test('takes exactly 32 KiB of JSON in all and refuses one byte more, naming the largest', () => {
    // 13 values of 2,500 characters and one that fills the file to the byte.
    const values: Record<string, string> = Object.fromEntries(
      Array.from({ length: 13 }, (_, i) => [`b${String(i).padStart(2, '0')}`, 'x'.repeat(2500)]),
    );
    const size = (v: object) => Buffer.byteLength(JSON.stringify(v), 'utf8');
    const rest = MAX_HYPERPARAMETERS_BYTES - size({ ...values, last: '' });
    expect(rest).toBeGreaterThan(0);
    const full = { ...values, last: 'y'.repeat(rest) };
    expect(size(full)).toBe(MAX_HYPERPARAMETERS_BYTES);
    expect(parse(full)).toEqual(full);
    expect(() => parse({ ...full, last: 'y'.repeat(rest + 1) })).toThrow(
      `${SOURCE}: the hyperparameters take ${MAX_HYPERPARAMETERS_BYTES + 1} bytes of JSON, over the ${MAX_HYPERPARAMETERS_BYTES} the pipeline carries in its execution state (Step Functions: 256 KiB for the whole state); the largest is 'b00' (2500 characters).`,
    );
  });
});

describe('which names', () => {
  test("takes letters, digits, '_', '.' and '-'", () => {
    expect(parse({ learning_rate: 0.1, 'layer.0-width': 64, Epochs2: 3 })).toEqual({
      learning_rate: '0.1',
      'layer.0-width': '64',
      Epochs2: '3',
    });
  });

  test.each(['constructor', 'toString', 'hasOwnProperty', '__proto__'])(
    "refuses '%s', a member every JavaScript object has, naming the key",
    (name) => {
      // JSON.parse makes `__proto__` an own key, as a file would.
      const text = `{"${name}": 1}`;
      expect(() => parseHyperparameters(text, SOURCE)).toThrow(
        `${SOURCE}: hyperparameter name '${name}' is reserved: it is a member every JavaScript object has (Object.prototype.${name}), which a lookup could mistake for this key; rename it.`,
      );
      expect(() => parseHyperparameters(text, SOURCE)).toThrow(expect.objectContaining({ name: 'InvalidInput' }));
    },
  );

  test('refuses a NUL in a name, showing it escaped and saying the rule', () => {
    expect(() => parseHyperparameters('{"lr\\u0000x": 1}', SOURCE)).toThrow(
      `${SOURCE}: hyperparameter name "lr\\u0000x" may hold only letters (A-Z, a-z), digits (0-9), '_', '.' and '-'; it holds "\\u0000" (U+0000).`,
    );
  });

  test.each([
    ['a space', 'learning rate', '" " (U+0020)'],
    ['a terminal escape', 'x\u001b[31m', '"\\u001b" (U+001B)'],
    ['a non-ASCII letter', 'taux_é', '"é" (U+00E9)'],
  ])('refuses %s, naming the character', (_what, name, found) => {
    expect(() => parse({ [name]: 1 })).toThrow(`may hold only letters (A-Z, a-z), digits (0-9), '_', '.' and '-'; it holds ${found}.`);
  });

  test("the stack's prop follows the same rule", () => {
    expect(hyperparameterViolation({ constructor: '1' }, 'The training hyperparameters prop')?.message).toBe(
      "The training hyperparameters prop: hyperparameter name 'constructor' is reserved: it is a member every JavaScript object has (Object.prototype.constructor), which a lookup could mistake for this key; rename it.",
    );
    expect(hyperparameterViolation({ 'a/b': '1' }, 'The training hyperparameters prop')?.message).toMatch(
      /name "a\/b" may hold only .* it holds "\/" \(U\+002F\)\./,
    );
  });
});
