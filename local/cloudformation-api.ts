/**
 * CloudFormation's DescribeStacks, served by the local runtime on the edge endpoint
 * (local/aws-api.ts; the query protocol: a form-encoded `Action=DescribeStacks&StackName=...`,
 * answered in XML), so that tools that find a deployed stack's resources through its outputs
 * (`aws cloudformation describe-stacks`, `mloop --stack`) find the local stack's under the CDK
 * stack's name. The stack is the synthesized template's (local/template.ts): CREATE_COMPLETE, with
 * its outputs resolved to local names, and URLs of the REST API made URLs of the edge
 * (`<edge>/restapis/<id>/<stage>/_user_request_/`, LocalStack's form). A stack of another name is
 * a ValidationError, as CloudFormation answers it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './template';
import type { LocalStack } from './template-types';

const NAMESPACE = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

/** An error CloudFormation answers with (HTTP 400, a Sender error with this code). */
export class CloudFormationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/** What DescribeStacks reads: LocalCloud. */
export interface CloudFormationBackend {
  readonly localStack: LocalStack;
  /** When the local stack was made (the home's runtime started). */
  readonly stackCreationTime: Date;
  /** The edge endpoint, whose URLs the REST API's are made. */
  readonly awsEndpoint: string;
}

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The stack's id, as CloudFormation makes them (an ARN ending in a UUID), fixed for the stack name. */
export function stackId(name: string): string {
  const hex = createHash('sha256').update(`mloop-local-stack/${name}`).digest('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return `arn:aws:cloudformation:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stack/${name}/${uuid}`;
}

/**
 * An output value as the local stack serves it: a REST API's execute-api URL becomes the edge's
 * path for that API and stage (a request there reaches the same routes, local/aws-api.ts).
 */
export function localOutputValue(value: string, awsEndpoint: string): string {
  const api = /^https:\/\/([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com\/([^/]+)\/(.*)$/.exec(value);
  return api ? `${awsEndpoint}/restapis/${api[1]}/${api[2]}/_user_request_/${api[3]}` : value;
}

function describeStacks(backend: CloudFormationBackend, params: URLSearchParams, region?: string): string {
  const stack = backend.localStack;
  const id = stackId(stack.name);
  const asked = params.get('StackName');
  // The local stack lives in one region, as a deployed one does: asked in another, it is not there.
  const elsewhere = region !== undefined && region !== LOCAL_REGION;
  if (elsewhere || (asked !== null && asked !== '' && asked !== stack.name && asked !== id))
    throw new CloudFormationError('ValidationError', `Stack with id ${asked ?? stack.name} does not exist`);
  const outputs = stack.outputs
    .map(
      (o) =>
        `<member><OutputKey>${xml(o.key)}</OutputKey><OutputValue>${xml(localOutputValue(o.value, backend.awsEndpoint))}</OutputValue>` +
        (o.description !== undefined ? `<Description>${xml(o.description)}</Description>` : '') +
        (o.exportName !== undefined ? `<ExportName>${xml(o.exportName)}</ExportName>` : '') +
        '</member>',
    )
    .join('');
  const member =
    `<member><StackId>${xml(id)}</StackId><StackName>${xml(stack.name)}</StackName>` +
    (stack.description !== undefined ? `<Description>${xml(stack.description)}</Description>` : '') +
    `<CreationTime>${backend.stackCreationTime.toISOString()}</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>` +
    `<DisableRollback>false</DisableRollback><NotificationARNs/><Capabilities/><Outputs>${outputs}</Outputs><Tags/>` +
    `<EnableTerminationProtection>false</EnableTerminationProtection>` +
    `<DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation></member>`;
  return `<DescribeStacksResponse xmlns="${NAMESPACE}"><DescribeStacksResult><Stacks>${member}</Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeStacksResponse>`;
}

/** CloudFormation's operations, by Action. */
export const CLOUDFORMATION_OPERATIONS: Record<
  string,
  (backend: CloudFormationBackend, params: URLSearchParams, region?: string) => string
> = {
  DescribeStacks: describeStacks,
};

/** CloudFormation's error document. */
export function cloudFormationErrorXml(error: CloudFormationError): string {
  return `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}
