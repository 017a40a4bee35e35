/**
 * One AWS client factory for every handler. On AWS the SDK's defaults apply (region and
 * credentials from the Lambda environment). Locally the runtime sets MLOOP_S3_ENDPOINT,
 * MLOOP_DYNAMODB_ENDPOINT, MLOOP_SFN_ENDPOINT, MLOOP_EVENTS_ENDPOINT and MLOOP_SNS_ENDPOINT to its
 * emulators and APIs on loopback; only endpoints change, never code paths. Every port of the local
 * runtime takes only requests signed with the home's credentials (local/edge-credentials.ts),
 * which the runtime puts in MLOOP_EDGE_ACCESS_KEY_ID and MLOOP_EDGE_SECRET_ACCESS_KEY.
 *
 * Clients are created once per process (module scope, reused across invocations) and can be
 * reset when the local runtime points the process at other emulators (tests start several).
 *
 * A program that calls a deployed stack from outside Lambda (the CLI's `--stack`) sets its region,
 * credentials and endpoint once (useAwsSettings); every client then uses them, so the registry
 * and storage code read the stack through the same functions the handlers use.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import type { AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * A hook every S3 and DynamoDB request of the emulators' clients passes through before it is
 * sent (the local runtime's fault injection, local/faults.ts, uses it to stop a process at an
 * exact write). Never set on AWS: only clients with a local endpoint get it.
 */
export type ClientRequestHook = (service: 's3' | 'dynamodb', operation: string, input: Record<string, unknown>) => Promise<void>;
let requestHook: ClientRequestHook | undefined;

/** Set (or clear) the hook for the local clients built from now on (see ClientRequestHook). */
export function setLocalRequestHook(hook: ClientRequestHook | undefined): void {
  requestHook = hook;
}

function withHook<C extends S3Client | DynamoDBClient>(client: C, service: 's3' | 'dynamodb'): C {
  const hook = requestHook;
  if (!hook) return client;
  const stack = client.middlewareStack as unknown as {
    add(
      middleware: (
        next: (args: { input: unknown }) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: { input: unknown }) => Promise<unknown>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
  stack.add(
    (next, context) => async (args) => {
      await hook(service, String(context.commandName ?? '').replace(/Command$/, ''), args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'initialize', name: 'mloopLocalRequestHook' },
  );
  return client;
}

/** What a caller outside Lambda (the CLI's `--stack`) gives every client. */
export interface AwsClientSettings {
  readonly region: string;
  readonly credentials: AwsCredentialIdentityProvider;
  /** An endpoint for every service (AWS_ENDPOINT_URL: the local runtime's edge, or a proxy); S3 is then addressed path-style. */
  readonly endpoint?: string;
}
let callerSettings: AwsClientSettings | undefined;

/** Use these settings for every client from now on (undefined: back to the Lambda environment and the local endpoints). */
export function useAwsSettings(settings: AwsClientSettings | undefined): void {
  callerSettings = settings;
  resetClients();
}

/** The caller's settings (useAwsSettings), for the clients a caller builds itself (Lambda, CloudFormation). */
export function awsSettings(): AwsClientSettings | undefined {
  return callerSettings;
}

let s3: S3Client | undefined;
let ddb: DynamoDBDocumentClient | undefined;
let events: EventBridgeClient | undefined;
let sns: SNSClient | undefined;
let sfn: SFNClient | undefined;

/**
 * The home's credentials, for a client of the local runtime (the emulators' ports and the edge
 * take no others). Without them, a local endpoint cannot be used: said here, naming the variables,
 * rather than as a refusal of every request.
 */
function homeCredentials(endpointVariable: string) {
  const accessKeyId = process.env.MLOOP_EDGE_ACCESS_KEY_ID;
  const secretAccessKey = process.env.MLOOP_EDGE_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error(
      `${endpointVariable} points at the local runtime, but MLOOP_EDGE_ACCESS_KEY_ID and MLOOP_EDGE_SECRET_ACCESS_KEY are not set: its endpoints take only the home's credentials (MLOOP_HOME/runtime.json's accessKeyId and secretAccessKey).`,
    );
  return { accessKeyId, secretAccessKey };
}

export function s3Client(): S3Client {
  if (!s3 && callerSettings) {
    const { endpoint } = callerSettings;
    s3 = new S3Client({
      ...callerSettings,
      // An endpoint of one host (the local edge, a proxy) cannot take the bucket as a subdomain.
      ...(endpoint
        ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
    });
  }
  if (!s3) {
    const endpoint = process.env.MLOOP_S3_ENDPOINT;
    s3 = endpoint
      ? withHook(
          new S3Client({
            endpoint,
            region: process.env.AWS_REGION ?? 'us-east-1',
            forcePathStyle: true,
            credentials: homeCredentials('MLOOP_S3_ENDPOINT'),
            // s3rver stores aws-chunked framing bytes as object content when the SDK adds CRC32
            // trailers to streamed bodies: ask for checksums only where the API requires them.
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          }),
          's3',
        )
      : new S3Client({});
  }
  return s3;
}

export function dynamoClient(): DynamoDBDocumentClient {
  if (!ddb) {
    const endpoint = process.env.MLOOP_DYNAMODB_ENDPOINT;
    const client = callerSettings
      ? new DynamoDBClient(callerSettings)
      : endpoint
        ? withHook(
            new DynamoDBClient({
              endpoint,
              region: process.env.AWS_REGION ?? 'us-east-1',
              credentials: homeCredentials('MLOOP_DYNAMODB_ENDPOINT'),
            }),
            'dynamodb',
          )
        : new DynamoDBClient({});
    ddb = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
    });
  }
  return ddb;
}

/** A client's settings for an endpoint of the local runtime (its edge), or AWS's defaults when there is none. */
function localSettings(endpointVariable: string) {
  if (callerSettings) return callerSettings;
  const endpoint = process.env[endpointVariable];
  return endpoint ? { endpoint, region: process.env.AWS_REGION ?? 'us-east-1', credentials: homeCredentials(endpointVariable) } : {};
}

/** EventBridge. Locally MLOOP_EVENTS_ENDPOINT is the local runtime's PutEvents (local/eventbridge-api.ts). */
export function eventsClient(): EventBridgeClient {
  events ??= new EventBridgeClient(localSettings('MLOOP_EVENTS_ENDPOINT'));
  return events;
}

/** SNS. Locally MLOOP_SNS_ENDPOINT is the local runtime's Publish (local/sns-api.ts). */
export function snsClient(): SNSClient {
  sns ??= new SNSClient(localSettings('MLOOP_SNS_ENDPOINT'));
  return sns;
}

/**
 * Step Functions. Locally MLOOP_SFN_ENDPOINT is the local runtime's Step Functions API
 * (local/stepfunctions-api.ts: StartExecution, DescribeExecution, SendTaskSuccess, SendTaskFailure,
 * SendTaskHeartbeat).
 */
export function sfnClient(): SFNClient {
  sfn ??= new SFNClient(localSettings('MLOOP_SFN_ENDPOINT'));
  return sfn;
}

/** Forget cached clients, so that the next call reads the endpoints again (local runtime, tests). */
export function resetClients(): void {
  s3?.destroy();
  ddb?.destroy();
  events?.destroy();
  sns?.destroy();
  sfn?.destroy();
  s3 = undefined;
  ddb = undefined;
  events = undefined;
  sns = undefined;
  sfn = undefined;
}
