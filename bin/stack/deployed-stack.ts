/**
 * Finding a deployed mloop stack by name (`mloop --stack NAME [--region R] [--profile P]`): the
 * standard credential chain (environment, profile, SSO, container and instance roles) through
 * `@aws-sdk/credential-providers`, the region from --region, AWS_REGION or the profile, and the
 * stack's resources from its outputs (CloudFormation DescribeStacks; lib/stack-outputs.ts names
 * them). AWS_ENDPOINT_URL, when set, sends every call to that endpoint (the local runtime's edge,
 * `mloop serve`), so the same code runs against the local stack.
 *
 * Nothing here synthesizes the CDK app: a command that only reads or calls starts in the time
 * one DescribeStacks takes.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AwsClientSettings } from '../../lambdas/shared/clients';
import { STACK_OUTPUTS, type StackOutput } from '../../lib/stack-outputs';
import { CliError } from '../cli-error';

/** `--stack`, `--region` and `--profile` (or MLOOP_STACK, AWS_REGION, AWS_PROFILE). */
export interface StackOptions {
  readonly stack: string;
  readonly region?: string;
  readonly profile?: string;
}

/** A deployed stack: its name, region and outputs. */
export interface DeployedStack {
  readonly name: string;
  readonly region: string;
  readonly outputs: Readonly<Partial<Record<StackOutput, string>>>;
  /** The settings every client uses to reach it. */
  readonly settings: AwsClientSettings;
}

/** The outputs every command needs; the others are read where a command needs them. */
const REQUIRED_OUTPUTS: readonly StackOutput[] = ['DataBucketName', 'RegistryTableName', 'StateMachineArn'];

/** AWS's names for an answer that refuses the caller's permissions. */
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'AuthorizationError', 'UnauthorizedOperation', 'Forbidden']);
/** AWS's names for credentials it does not accept. */
const BAD_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidSignatureException',
]);

interface AwsErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * One line for a failed AWS call, naming the stack, the region and the action (`service:Operation`)
 * that failed, with what to do where the cause is the caller's setup (credentials, region,
 * permissions).
 */
export function describeAwsFailure(error: unknown, where: { stack: string; region: string }, action: string): string {
  const e = (error ?? {}) as AwsErrorShape;
  const name = e.name ?? 'Error';
  const message = (e.message ?? String(error)).split('\n')[0];
  const at = `stack ${where.stack} in ${where.region}`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message))
    return `no AWS credentials for ${at}: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (${message})`;
  if (BAD_CREDENTIALS.has(name)) return `AWS did not accept the credentials for ${at} (${name} on ${action}): ${message}`;
  if (ACCESS_DENIED.has(name) || e.$metadata?.httpStatusCode === 403)
    return `access denied to ${action} on ${at}: ${message} (the caller's role needs ${action})`;
  if (action === 'cloudformation:DescribeStacks' && name === 'ValidationError' && /does not exist/i.test(message))
    return `stack ${where.stack} does not exist in ${where.region}: deploy it there, or name its region with --region (or AWS_REGION)`;
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || /ECONNREFUSED|ENOTFOUND|getaddrinfo/.test(message))
    return `cannot reach AWS for ${at} (${action}): ${message}`;
  return `${action} failed on ${at}: ${name}: ${message}`;
}

/** A failed AWS call as a CliError (describeAwsFailure). */
export function awsFailure(error: unknown, where: { stack: string; region: string }, action: string): CliError {
  return new CliError(describeAwsFailure(error, where, action));
}

/** The stack's name from --stack, else MLOOP_STACK; undefined for the local stack. */
export function stackOptionsOf(values: { stack?: unknown; region?: unknown; profile?: unknown }): StackOptions | undefined {
  const stack = typeof values.stack === 'string' ? values.stack : process.env.MLOOP_STACK;
  const region = typeof values.region === 'string' ? values.region : undefined;
  const profile = typeof values.profile === 'string' ? values.profile : undefined;
  if (stack === undefined || stack === '') {
    if (region !== undefined || profile !== undefined)
      throw new CliError('--region and --profile choose how to reach a deployed stack: name it with --stack NAME (or MLOOP_STACK).');
    return undefined;
  }
  // CloudFormation's rule for stack names (an ARN is accepted too).
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stack) && !stack.startsWith('arn:'))
    throw new CliError(
      `--stack '${stack}' is not a CloudFormation stack name: expected a letter, then letters, digits and hyphens (at most 128).`,
    );
  return { stack, region, profile };
}

/**
 * Where to reach a stack when the caller already knows (the local stack: the edge endpoint of
 * its home and the home's credentials, local/edge-credentials.ts), instead of AWS_ENDPOINT_URL
 * and the standard credential chain.
 */
export interface StackEndpoint {
  readonly endpoint: string;
  readonly credentials: AwsCredentialIdentity;
}

/** Find the stack: region and credentials resolved, DescribeStacks answered, the outputs read. */
export async function connectStack(options: StackOptions, via?: StackEndpoint): Promise<DeployedStack> {
  const endpoint = via?.endpoint ?? (process.env.AWS_ENDPOINT_URL || undefined);
  const given = via?.credentials;
  const credentials: AwsCredentialIdentityProvider = given
    ? async () => given
    : fromNodeProviderChain(options.profile ? { profile: options.profile } : {});
  const cfn = new CloudFormationClient({
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    credentials,
    ...(endpoint ? { endpoint } : {}),
  });
  try {
    let region: string;
    try {
      region = await cfn.config.region();
    } catch {
      region = '';
    }
    if (!region)
      throw new CliError(
        `no AWS region for stack ${options.stack}: pass --region, set AWS_REGION, or give the profile${options.profile ? ` ${options.profile}` : ''} a region.`,
      );
    const where = { stack: options.stack, region };
    let described;
    try {
      described = await cfn.send(new DescribeStacksCommand({ StackName: options.stack }));
    } catch (error) {
      throw awsFailure(error, where, 'cloudformation:DescribeStacks');
    }
    const stack = described.Stacks?.[0];
    if (!stack) throw new CliError(`stack ${options.stack} does not exist in ${region}.`);
    if (/_IN_PROGRESS$/.test(stack.StackStatus ?? '') && !stack.Outputs?.length)
      throw new CliError(`stack ${options.stack} in ${region} is ${stack.StackStatus}: wait for the deployment to finish.`);
    const outputs: Partial<Record<StackOutput, string>> = {};
    for (const o of stack.Outputs ?? []) {
      if ((STACK_OUTPUTS as readonly string[]).includes(o.OutputKey ?? '') && o.OutputValue)
        outputs[o.OutputKey as StackOutput] = o.OutputValue;
    }
    const missing = REQUIRED_OUTPUTS.filter((k) => !outputs[k]);
    if (missing.length > 0)
      throw new CliError(
        `stack ${options.stack} in ${region} has no output ${missing.join(', ')}: it is not an mloop stack, or was deployed by a version of mloop before its outputs (deploy it again).`,
      );
    return {
      name: stack.StackName ?? options.stack,
      region,
      outputs,
      settings: { region, credentials, ...(endpoint ? { endpoint } : {}) },
    };
  } finally {
    cfn.destroy();
  }
}
