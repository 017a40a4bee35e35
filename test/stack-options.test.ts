/**
 * `mloop --stack`'s own logic, without a stack: which stack the options name, the one line a
 * failed AWS call becomes (stack, region and the denied action named), and predictions sent in
 * batches of the API's limit and merged in order. The commands against a stack (the local one
 * behind the edge endpoint) are in stack-cli.test.ts.
 */
import { predictInBatches } from '../bin/cli';
import { describeAwsFailure, stackOptionsOf } from '../bin/stack/deployed-stack';
import type { ApiAnswer, LoopTarget } from '../bin/target';

const where = { stack: 'Mloop', region: 'eu-west-1' };

/** An error as the SDK throws it. */
function awsError(name: string, message: string, status?: number): Error {
  return Object.assign(new Error(message), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
}

describe('stackOptionsOf', () => {
  const saved = process.env.MLOOP_STACK;
  afterEach(() => {
    if (saved === undefined) delete process.env.MLOOP_STACK;
    else process.env.MLOOP_STACK = saved;
  });

  it('is the local stack without --stack or MLOOP_STACK', () => {
    delete process.env.MLOOP_STACK;
    expect(stackOptionsOf({})).toBeUndefined();
  });

  it('takes --stack, --region and --profile, or MLOOP_STACK', () => {
    delete process.env.MLOOP_STACK;
    expect(stackOptionsOf({ stack: 'Prod-Mloop', region: 'eu-west-1', profile: 'ml' })).toEqual({
      stack: 'Prod-Mloop',
      region: 'eu-west-1',
      profile: 'ml',
    });
    process.env.MLOOP_STACK = 'FromEnv';
    expect(stackOptionsOf({})).toEqual({ stack: 'FromEnv', region: undefined, profile: undefined });
    expect(stackOptionsOf({ stack: 'Flag' })?.stack).toBe('Flag');
  });

  it('refuses a name CloudFormation would not accept, and --region without a stack', () => {
    delete process.env.MLOOP_STACK;
    expect(() => stackOptionsOf({ stack: '1stack' })).toThrow(
      "--stack '1stack' is not a CloudFormation stack name: expected a letter, then letters, digits and hyphens (at most 128).",
    );
    expect(() => stackOptionsOf({ stack: 'a_b' })).toThrow(/is not a CloudFormation stack name/);
    expect(() => stackOptionsOf({ region: 'eu-west-1' })).toThrow(/name it with --stack NAME/);
  });
});

describe('describeAwsFailure: one line naming the stack, the region and the action', () => {
  it('a missing stack says where it looked and how to look elsewhere', () => {
    const e = awsError('ValidationError', 'Stack with id Mloop does not exist', 400);
    expect(describeAwsFailure(e, where, 'cloudformation:DescribeStacks')).toBe(
      'stack Mloop does not exist in eu-west-1: deploy it there, or name its region with --region (or AWS_REGION)',
    );
  });

  it('missing credentials say which settings provide them', () => {
    const e = awsError('CredentialsProviderError', 'Could not load credentials from any providers');
    expect(describeAwsFailure(e, where, 'cloudformation:DescribeStacks')).toBe(
      'no AWS credentials for stack Mloop in eu-west-1: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Could not load credentials from any providers)',
    );
  });

  it('an AccessDenied answer names the denied action', () => {
    const e = awsError(
      'AccessDeniedException',
      'User: arn:aws:iam::1:user/x is not authorized to perform: lambda:InvokeFunction on resource: f',
      403,
    );
    expect(describeAwsFailure(e, where, 'lambda:InvokeFunction')).toBe(
      "access denied to lambda:InvokeFunction on stack Mloop in eu-west-1: User: arn:aws:iam::1:user/x is not authorized to perform: lambda:InvokeFunction on resource: f (the caller's role needs lambda:InvokeFunction)",
    );
    // S3 answers a bare 403 named AccessDenied.
    expect(describeAwsFailure(awsError('AccessDenied', 'Access Denied', 403), where, 's3:PutObject')).toMatch(
      /^access denied to s3:PutObject on stack Mloop in eu-west-1/,
    );
  });

  it('rejected credentials, an unreachable endpoint, and anything else', () => {
    expect(
      describeAwsFailure(
        awsError('ExpiredTokenException', 'The security token included in the request is expired'),
        where,
        'states:DescribeExecution',
      ),
    ).toBe(
      'AWS did not accept the credentials for stack Mloop in eu-west-1 (ExpiredTokenException on states:DescribeExecution): The security token included in the request is expired',
    );
    expect(
      describeAwsFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), where, 's3:PutObject'),
    ).toBe('cannot reach AWS for stack Mloop in eu-west-1 (s3:PutObject): connect ECONNREFUSED 127.0.0.1:9');
    expect(describeAwsFailure(awsError('ThrottlingException', 'Rate exceeded\nmore'), where, 'states:ListExecutions')).toBe(
      'states:ListExecutions failed on stack Mloop in eu-west-1: ThrottlingException: Rate exceeded',
    );
  });
});

describe('predictInBatches', () => {
  /** A stack whose API answers each instance's `x` doubled, refusing `x` = 'bad', and records the calls. */
  function fakeApi(version = 3) {
    const calls: { body: { instances: { x: unknown }[] }; query: Record<string, string> }[] = [];
    const stack = {
      predict: async (_model: string, body: unknown, query: Record<string, string>): Promise<ApiAnswer> => {
        const b = body as { instances: { x: unknown }[] };
        calls.push({ body: b, query: { ...query } });
        const bad = b.instances.findIndex((i) => i.x === 'bad');
        if (bad >= 0) return { statusCode: 400, body: JSON.stringify({ message: `instances[${bad}].x is not a number.` }) };
        return {
          statusCode: 200,
          body: JSON.stringify({
            predictions: b.instances.map((i) => ({ value: Number(i.x) * 2 })),
            model: { name: 'm', version },
            requestId: `r${calls.length}`,
          }),
        };
      },
    } as unknown as LoopTarget;
    return { stack, calls };
  }
  const instances = (n: number) => Array.from({ length: n }, (_, i) => ({ x: i }));

  it('sends an input that fits one request as it is', async () => {
    const { stack, calls } = fakeApi();
    const answer = await predictInBatches(stack, 'm', { instances: instances(4) }, { alias: 'champion' }, 4);
    expect(calls).toHaveLength(1);
    expect(JSON.parse(answer.body)).toEqual(
      JSON.parse(
        JSON.stringify({ predictions: [0, 2, 4, 6].map((value) => ({ value })), model: { name: 'm', version: 3 }, requestId: 'r1' }),
      ),
    );
  });

  it('splits a larger one, keeps input order, pins later batches to the first batch version, and lists every requestId', async () => {
    const { stack, calls } = fakeApi(7);
    const answer = await predictInBatches(stack, 'm', { instances: instances(10), top_k: 2 }, { alias: 'challenger', top_k: '2' }, 4);
    expect(calls.map((c) => c.body.instances.length)).toEqual([4, 4, 2]);
    expect(calls.map((c) => c.query)).toEqual([
      { alias: 'challenger', top_k: '2' },
      { top_k: '2', version: '7' },
      { top_k: '2', version: '7' },
    ]);
    expect(calls.every((c) => (c.body as unknown as { top_k: number }).top_k === 2)).toBe(true);
    const merged = JSON.parse(answer.body) as { predictions: { value: number }[]; requestId: string; requestIds: string[] };
    expect(merged.predictions.map((p) => p.value)).toEqual(instances(10).map((i) => i.x * 2));
    expect(merged.requestId).toBe('r1');
    expect(merged.requestIds).toEqual(['r1', 'r2', 'r3']);
  });

  it("answers a batch's refusal, saying which instances it held", async () => {
    const { stack, calls } = fakeApi();
    const input = instances(10) as { x: unknown }[];
    input[6] = { x: 'bad' };
    const answer = await predictInBatches(stack, 'm', { instances: input }, {}, 4);
    expect(calls).toHaveLength(2); // the third batch is not sent
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ message: 'instances 4-7 (a batch of at most 4): instances[2].x is not a number.' });
  });
});
