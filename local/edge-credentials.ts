/**
 * The credentials of a home's local runtime, and their check at the AWS edge endpoint
 * (local/aws-api.ts). The owner of a home generates an access key pair when it starts, publishes
 * it in MLOOP_HOME/runtime.json (mode 0600: readable by the user alone) beside the endpoints, and
 * uses it itself; `mloop serve` prints it; commands that attach to the home read it there. The
 * edge refuses a request that is not signed with the home's access key id, answered as each
 * protocol answers an unknown key (S3: 403 InvalidAccessKeyId; JSON protocols: 403
 * UnrecognizedClientException; query protocols: 403 InvalidClientTokenId).
 *
 * What is checked is the access key id of the SigV4 (or SigV2) signature, in the Authorization
 * header or a presigned URL's query: it is a secret of this home (random, 0600). The signature
 * itself is not verified (that would mean buffering every body to hash it). s3rver and dynalite
 * cannot check credentials of their own: they listen on loopback ports that the runtime uses
 * in-process, and the edge is the one endpoint published for AWS clients.
 */
import { randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { s3ErrorXml } from './emulator-proxy';

export interface EdgeCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** A new key pair: shaped like AWS's (20 upper-case characters, 40 of secret), random. */
export function generateEdgeCredentials(): EdgeCredentials {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = [...randomBytes(16)].map((b) => alphabet[b % 32]).join('');
  return { accessKeyId: `MLLO${id}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

/** The access key id a request is signed with (SigV4 or SigV2; header or presigned query), if any. */
export function requestAccessKeyId(headers: http.IncomingHttpHeaders, url: URL): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const v4 = /Credential=([^/,\s]+)\//.exec(authorization)?.[1];
    if (v4 !== undefined) return v4;
    const v2 = /^AWS ([^:\s]+):/.exec(authorization)?.[1];
    if (v2 !== undefined) return v2;
  }
  const presigned = url.searchParams.get('X-Amz-Credential');
  if (presigned !== null) return presigned.split('/')[0];
  return url.searchParams.get('AWSAccessKeyId') ?? undefined;
}

/** Why the edge refuses the request's credentials, or undefined when they are the home's. */
export function credentialsProblem(headers: http.IncomingHttpHeaders, url: URL, expected: EdgeCredentials): string | undefined {
  const key = requestAccessKeyId(headers, url);
  if (key === undefined)
    return 'The request is not signed: the local AWS endpoint takes requests signed with the credentials of this home (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as `mloop serve` prints them, or runtime.json).';
  if (key !== expected.accessKeyId)
    return `The access key id '${key.slice(0, 40)}' is not this home's: the local AWS endpoint takes the credentials that \`mloop serve\` prints (and MLOOP_HOME/runtime.json holds).`;
  return undefined;
}

/** The refusal, in the error shape of the protocol the request speaks. */
export function credentialsRefusal(service: string, message: string): { headers: Record<string, string>; body: string } {
  if (service === 's3') return { headers: { 'content-type': 'application/xml' }, body: s3ErrorXml('InvalidAccessKeyId', message) };
  if (service === 'sns' || service === 'cloudformation' || service === 'query')
    return {
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</Message></Error><RequestId>${randomBytes(16).toString('hex')}</RequestId></ErrorResponse>`,
    };
  return {
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'UnrecognizedClientException' },
    body: JSON.stringify({ __type: 'UnrecognizedClientException', message }),
  };
}
