/**
 * The local event bus: an event put on it is matched against the template's rules as EventBridge
 * matches them (local/events.ts), and delivered to each matching rule's targets. Whoever waits for
 * the execution that an S3 key's next event starts (`nextExecutionFor`) hears of it here.
 */
import { matchesPattern, type EventBridgeEvent } from './events';
import type { LocalRule } from './template-types';

/** What one rule target did with an event: its answer (a function's result), or why it failed. */
export type Delivery =
  | { readonly rule: string; readonly target: string; readonly status: 'DELIVERED'; readonly result: unknown }
  | { readonly rule: string; readonly target: string; readonly status: 'FAILED'; readonly error: string };

/** Deliver an event (or a target's constant input) to one target ARN (a function or a state machine); resolves with its answer. */
export type DeliverTo = (targetArn: string, event: unknown) => Promise<unknown>;

export class LocalEventBus {
  private readonly waiters: { key: string; resolve: (execution: string) => void; reject: (error: Error) => void }[] = [];
  /** Events being delivered to their targets (settle waits for them: they may start executions). */
  private readonly deliveries = new Set<Promise<Delivery[]>>();

  constructor(
    private readonly rules: readonly LocalRule[],
    private readonly deliverTo: DeliverTo,
    private readonly say: (line: string) => void,
  ) {}

  /**
   * Put an event on the local bus: every rule whose pattern matches delivers it to its targets,
   * as EventBridge does. A function target is invoked with the event (the dataset rule's target
   * is the pipeline's starter, whose StartExecution reaches this process through the local Step
   * Functions API); a state machine target starts an execution with the event as input. Resolves
   * with what each target did and never rejects: a failed target is logged (on AWS it would be
   * retried, then dead-lettered) and fails whoever waits for an execution of the event's key.
   */
  publish(event: EventBridgeEvent): Promise<Delivery[]> {
    const key = (event.detail.object as { key?: string } | undefined)?.key;
    // The waiters registered before this event arrived are the ones it answers.
    const waiting = key ? this.waiters.filter((w) => w.key === key) : [];
    this.waiters.splice(0, this.waiters.length, ...this.waiters.filter((w) => !waiting.includes(w)));
    const delivered = this.deliver(event).then((deliveries) => {
      // The starter answers with the execution of the object version, new or already there.
      const execution = deliveries
        .map((d) => (d.status === 'DELIVERED' ? (d.result as { executionName?: unknown } | undefined)?.executionName : undefined))
        .find((name): name is string => typeof name === 'string');
      const failed = deliveries.find((d) => d.status === 'FAILED');
      for (const waiter of waiting) {
        if (execution) waiter.resolve(execution);
        else if (failed?.status === 'FAILED')
          waiter.reject(
            new Error(
              `The event for ${key} started no execution: rule ${failed.rule} could not deliver it to ${failed.target}: ${failed.error}`,
            ),
          );
        else this.waiters.push(waiter); // nothing answered for this key: keep waiting for the next event
      }
      return deliveries;
    });
    this.deliveries.add(delivered);
    void delivered.finally(() => this.deliveries.delete(delivered));
    return delivered;
  }

  /** Deliver `event` to the targets of one rule (a schedule's tick, which matches no pattern). */
  async deliverToRule(rule: LocalRule, event: EventBridgeEvent): Promise<Delivery[]> {
    const deliveries: Delivery[] = [];
    for (const { arn: target, input } of rule.targets) {
      try {
        // A target with a constant Input gets that JSON instead of the event, as EventBridge gives it.
        const delivered: unknown = input !== undefined ? JSON.parse(input) : event;
        deliveries.push({ rule: rule.logicalId, target, status: 'DELIVERED', result: await this.deliverTo(target, delivered) });
      } catch (error) {
        const message = (error as Error).message;
        this.say(`[${rule.logicalId}] event ${event.id} was not delivered to ${target}: ${message}`);
        deliveries.push({ rule: rule.logicalId, target, status: 'FAILED', error: message });
      }
    }
    return deliveries;
  }

  private async deliver(event: EventBridgeEvent): Promise<Delivery[]> {
    const deliveries: Delivery[] = [];
    for (const rule of this.rules) {
      if (!rule.pattern || !matchesPattern(rule.pattern, event)) continue;
      deliveries.push(...(await this.deliverToRule(rule, event)));
    }
    return deliveries;
  }

  /** Resolves with the execution that the next event for `key` starts. Register before the upload. */
  nextExecutionFor(key: string): Promise<string> {
    return new Promise((resolve, reject) => this.waiters.push({ key, resolve, reject }));
  }

  /** Wait for the events on their way to their targets. */
  async settle(): Promise<void> {
    await Promise.all(this.deliveries);
  }
}
