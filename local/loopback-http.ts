/**
 * What mloop's loopback HTTP servers share (the local API, the AWS edge, `mloop ui`): reading a
 * request body up to a limit, and listening on 127.0.0.1 with a close that does not wait for
 * idle keep-alive connections.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The request's body, or null when it is longer than `limit` bytes: the rest is then read and
 * dropped (not kept), so that the caller can still answer the request with its refusal.
 */
export function readBodyUpTo(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface LoopbackServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stops listening and ends open connections, idle keep-alive ones included. */
  close(): Promise<void>;
}

/**
 * Listen on 127.0.0.1:`port` (0: one the OS picks). `listenError` turns a failure to listen
 * (the port taken) into the caller's own error.
 */
export async function listenOnLoopback(
  server: http.Server,
  port: number,
  listenError: (error: NodeJS.ErrnoException) => Error = (error) => error,
): Promise<LoopbackServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error)));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
