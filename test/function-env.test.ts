/**
 * Each local function's own environment (local/function-env.ts): what one function's variables
 * are, another function and the runtime around them do not see, and each function's log lines
 * carry its own service name (lambdas/shared/observability.ts).
 */
import { functionEnvironment, withFunctionEnvironment } from '../local/function-env';
import { logger } from '../lambdas/shared/observability';

// Fresh for every test: a function's writes stay in its environment, which no other test may see.
let A: ReturnType<typeof functionEnvironment>;
let B: ReturnType<typeof functionEnvironment>;
beforeEach(() => {
  A = functionEnvironment({ POWERTOOLS_SERVICE_NAME: 'mloop-a', ONLY_A: 'a', NODE_OPTIONS: '--enable-source-maps' });
  B = functionEnvironment({ POWERTOOLS_SERVICE_NAME: 'mloop-b' });
});

describe('a local function environment', () => {
  afterEach(() => {
    delete process.env.MLOOP_TEST_SHARED;
  });

  test("reads the function's variables over the process's, and leaves out NODE_OPTIONS", () => {
    process.env.MLOOP_TEST_SHARED = 'runtime';
    withFunctionEnvironment(A, () => {
      expect(process.env.POWERTOOLS_SERVICE_NAME).toBe('mloop-a');
      expect(process.env.ONLY_A).toBe('a');
      expect(process.env.MLOOP_TEST_SHARED).toBe('runtime');
      expect(Object.keys(process.env)).toEqual(expect.arrayContaining(['ONLY_A', 'MLOOP_TEST_SHARED']));
      expect('NODE_OPTIONS' in A).toBe(false);
    });
    withFunctionEnvironment(B, () => {
      expect(process.env.POWERTOOLS_SERVICE_NAME).toBe('mloop-b');
      expect(process.env.ONLY_A).toBeUndefined();
      expect('ONLY_A' in process.env).toBe(false);
    });
    expect(process.env.ONLY_A).toBeUndefined();
  });

  test("keeps a function's writes and deletes to itself", () => {
    process.env.MLOOP_TEST_SHARED = 'runtime';
    withFunctionEnvironment(A, () => {
      process.env.WRITTEN_BY_A = 'yes';
      delete process.env.MLOOP_TEST_SHARED;
      expect(process.env.MLOOP_TEST_SHARED).toBeUndefined();
    });
    withFunctionEnvironment(B, () => expect(process.env.WRITTEN_BY_A).toBeUndefined());
    expect(process.env.WRITTEN_BY_A).toBeUndefined();
    expect(process.env.MLOOP_TEST_SHARED).toBe('runtime');
    withFunctionEnvironment(A, () => expect(process.env.WRITTEN_BY_A).toBe('yes'));
  });

  test('follows the work it schedules: timers and awaited promises keep their function', async () => {
    const seen = await Promise.all([
      withFunctionEnvironment(A, async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return process.env.POWERTOOLS_SERVICE_NAME;
      }),
      withFunctionEnvironment(B, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return process.env.POWERTOOLS_SERVICE_NAME;
      }),
    ]);
    expect(seen).toEqual(['mloop-a', 'mloop-b']);
  });
});

describe('the logger', () => {
  test("writes each function's lines with that function's service name", () => {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const verbose = { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_DEV: 'false' };
    try {
      withFunctionEnvironment({ ...A, ...verbose }, () => logger.info('from a'));
      withFunctionEnvironment({ ...B, ...verbose }, () => logger.info('from b'));
      withFunctionEnvironment({ ...A, ...verbose }, () => logger.info('from a again'));
    } finally {
      write.mockRestore();
    }
    const logged = lines
      .flatMap((text) => text.split('\n'))
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { message: string; service: string });
    expect(logged.map(({ message, service }) => [message, service])).toEqual([
      ['from a', 'mloop-a'],
      ['from b', 'mloop-b'],
      ['from a again', 'mloop-a'],
    ]);
  });
});
