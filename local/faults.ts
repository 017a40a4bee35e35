/**
 * Fault injection for the local runtime: stop a process at an exact point, so that a test (or a
 * person checking recovery) can kill it there. `MLOOP_FAULT_HOLD` holds comma-separated points:
 *
 *   state:<state name>           before the named Task state's work starts ("state:Evaluate candidate")
 *   s3:<Operation>:<key text>    before an S3 request whose key contains the text ("s3:PutObject:splits/")
 *   dynamodb:<Operation>:<text>  before a DynamoDB request whose key or item `sk` contains the text
 *                                ("dynamodb:PutItem:ALIAS#champion"; Put, PutItem, Update... match by prefix)
 *
 * At the first request that matches a point, the runtime logs `[fault] holding at <point>` and that
 * request never completes: the process waits there, with everything before it done and nothing
 * after it, until it is killed. Nothing else changes; without the variable this file does nothing.
 */
import { setLocalRequestHook } from '../lambdas/shared/clients';

export const FAULT_VARIABLE = 'MLOOP_FAULT_HOLD';

export interface FaultPoint {
  readonly spec: string;
  readonly kind: 'state' | 's3' | 'dynamodb';
  readonly operation?: string;
  readonly text: string;
}

/** The points of MLOOP_FAULT_HOLD; a malformed one is an error that names it. */
export function parseFaultPoints(value: string | undefined): FaultPoint[] {
  if (!value?.trim()) return [];
  return value.split(',').map((raw) => {
    const spec = raw.trim();
    const [kind, ...rest] = spec.split(':');
    if (kind === 'state' && rest.length >= 1 && rest.join(':') !== '') return { spec, kind, text: rest.join(':') };
    if ((kind === 's3' || kind === 'dynamodb') && rest.length >= 2 && rest[0] !== '')
      return { spec, kind, operation: rest[0], text: rest.slice(1).join(':') };
    throw new Error(
      `${FAULT_VARIABLE} point '${spec}' is not one of state:<state name>, s3:<Operation>:<key text>, dynamodb:<Operation>:<key text>.`,
    );
  });
}

/** The text of a request that a point's text is looked for in: the S3 key, or DynamoDB's key and item sort key. */
function requestText(input: Record<string, unknown>): string {
  if (typeof input.Key === 'string') return input.Key;
  const item = input.Item as Record<string, unknown> | undefined;
  return JSON.stringify([input.Key ?? null, item?.sk ?? null]);
}

export interface FaultHolds {
  /** Resolves at once, or never (the state is a fault point). */
  beforeState(stateName: string): Promise<void>;
}

const forever = () => new Promise<void>(() => undefined);

/**
 * Install the points of MLOOP_FAULT_HOLD (client requests through the shared clients' local hook).
 * `log` receives the `[fault] holding at ...` line.
 */
export function installFaultHolds(env: NodeJS.ProcessEnv, log: (line: string) => void): FaultHolds {
  const points = parseFaultPoints(env[FAULT_VARIABLE]);
  if (points.length === 0) {
    setLocalRequestHook(undefined);
    return { beforeState: async () => undefined };
  }
  const hold = (point: FaultPoint) => {
    log(`[fault] holding at ${point.spec} (${FAULT_VARIABLE})`);
    return forever();
  };
  setLocalRequestHook(async (service, operation, input) => {
    const point = points.find((p) => p.kind === service && operation.startsWith(p.operation ?? '') && requestText(input).includes(p.text));
    if (point) await hold(point);
  });
  return {
    beforeState: async (stateName) => {
      const point = points.find((p) => p.kind === 'state' && p.text === stateName);
      if (point) await hold(point);
    },
  };
}
