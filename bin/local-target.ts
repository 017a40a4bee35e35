/**
 * The local stack as a LoopTarget (bin/target.ts), reached the way a deployed stack is: the same
 * AwsTarget code (bin/stack/aws-target.ts) with the endpoint filled in. The stack is found by
 * CloudFormation DescribeStacks at the home's AWS edge endpoint (local/aws-api.ts), drops are S3
 * PutObject calls whose execution is found and followed through the Step Functions API, `models`
 * and `drift` are Lambda Invoke calls, and a prediction is a SigV4-signed request to the REST API's
 * URL, all signed with the home's credentials (local/edge-credentials.ts). Only three things are
 * the local stack's own: where it is (a folder), the captured requests this process buffers
 * (flush), and stopping the runtime this process started.
 *
 * The process that owns the home runs the executions and the handlers itself; a process that
 * attached to a home another mloop command serves reaches the owner's edge, and the owner runs
 * what it starts.
 */
import type { LocalCloud } from '../local/cloud';
import { AwsTarget } from './stack/aws-target';
import { connectStack, type DeployedStack } from './stack/deployed-stack';
import type { LoopTarget } from './target';

export class LocalTarget extends AwsTarget {
  constructor(
    readonly cloud: LocalCloud,
    stack: DeployedStack,
  ) {
    super(stack, {
      // Progress lines (an attached process's: the states of the owner's executions) where the cloud says its own.
      log: (line) => cloud.say(line),
      // The handlers of this process use these clients already (see AwsTargetOptions.processClients).
      processClients: true,
      // The owner prints each state as it runs it (local/state-machines.ts); an attached process reads the history.
      followStates: cloud.attachedTo !== undefined,
    });
  }

  override get where(): string {
    return `the local stack in ${this.cloud.home}`;
  }

  override get home(): string {
    return this.cloud.home;
  }

  /**
   * The owner delivers the bucket's events itself, so it knows at once when a drop started no
   * execution (the starter refused it) and why, where AWS would leave the reason in the starter's
   * logs and the wait to time out.
   */
  protected override deliveryFailure(key: string): Promise<never> | undefined {
    if (this.cloud.attachedTo) return undefined;
    // Started: the Step Functions API names the execution, so this never settles.
    const failed = this.cloud.nextExecutionFor(key).then(() => new Promise<never>(() => undefined));
    failed.catch(() => undefined); // raced by the wait; a put that fails leaves nobody to observe it
    return failed;
  }

  /** Write the captured requests this process buffers, so that what reads them next sees them. */
  override flush(): Promise<void> {
    return this.cloud.flush();
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.cloud.stop();
  }
}

/** The local stack's target of each started LocalCloud (one per cloud: its Lambda client is reused). */
const targets = new WeakMap<LocalCloud, Promise<LocalTarget>>();

/** The local stack of a started LocalCloud as a LoopTarget: found through DescribeStacks at its edge. */
export function localTarget(cloud: LocalCloud): Promise<LocalTarget> {
  let target = targets.get(cloud);
  if (!target) {
    target = connectStack(
      { stack: cloud.localStack.name, region: cloud.region },
      { endpoint: cloud.awsEndpoint, credentials: cloud.credentials },
    ).then((stack) => new LocalTarget(cloud, stack));
    targets.set(cloud, target);
    target.catch(() => targets.delete(cloud));
  }
  return target;
}

/** A command's target: a LoopTarget as it is, or the local stack of a started LocalCloud. */
export async function targetOf(target: LoopTarget | LocalCloud): Promise<LoopTarget> {
  return 'dropDataset' in target ? target : localTarget(target);
}
