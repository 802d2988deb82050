/**
 * The outbox relay: carries out a task's pending side effects (publish an
 * event, schedule or remove a reminder job) in order, then removes them from
 * the task document. Runs right after each write and, for whatever a failure
 * left behind (daprd or Kafka down), on a timer.
 *
 * One relay at a time per task: in-process by a per-task chain, across
 * replicas by a lease on the document (optimistic concurrency). An entry whose
 * effect happened but whose removal did not (a crash in between) runs again:
 * events keep their id, so consumers de-duplicate.
 */
import { randomUUID } from "node:crypto";
import type { Jobs } from "../../shared/host/jobs.ts";
import type { Publisher } from "../../shared/host/publisher.ts";
import type { Logger } from "../../shared/logger.ts";
import type { OutboxEntry, TaskStore } from "./store.ts";

export interface RelayOptions {
  /** How long a relay may hold a task's outbox before another may take it over. */
  leaseMs: number;
  /** Period of the sweep for leftovers. */
  sweepMs: number;
  /** Tasks per sweep. */
  sweepBatch: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = { leaseMs: 120_000, sweepMs: 2_000, sweepBatch: 100 };

export class OutboxRelay {
  private readonly owner = randomUUID();
  private readonly chains = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private stopped = false;
  /** Entries not yet carried out, as of the last sweep (for operators and metrics). */
  backlog = 0;

  constructor(
    private readonly store: TaskStore,
    private readonly effects: { publisher: Publisher; jobs: Jobs },
    private readonly log: Logger,
    private readonly options: RelayOptions = DEFAULT_RELAY_OPTIONS,
  ) {}

  /** Relays one task's outbox; calls for the same task run one after another. Never throws. */
  relay(userId: string, taskId: string): Promise<void> {
    const previous = this.chains.get(taskId) ?? Promise.resolve();
    const next = previous.then(() => this.drain(userId, taskId)).catch((err: unknown) => {
      this.log.warn({ err, taskId }, "outbox relay failed; the sweep will retry");
    });
    this.chains.set(taskId, next);
    void next.finally(() => {
      if (this.chains.get(taskId) === next) this.chains.delete(taskId);
    });
    return next;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.sweeping = this.sweep().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.options.sweepMs);
      });
    };
    this.timer = setTimeout(tick, this.options.sweepMs);
  }

  /** Stops sweeping and waits for relays in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.sweeping;
    await Promise.all([...this.chains.values()]);
  }

  async sweep(): Promise<void> {
    try {
      const pending = await this.store.withPendingOutbox(this.options.sweepBatch);
      for (const { userId, id } of pending) await this.relay(userId, id);
      this.backlog = pending.length;
    } catch (err) {
      this.log.warn({ err }, "outbox sweep failed");
    }
  }

  private async drain(userId: string, taskId: string): Promise<void> {
    const now = Date.now();
    const leased = await this.store.update(userId, taskId, (doc) => {
      if (doc.outbox.length === 0) return undefined;
      const lease = doc.outboxLease;
      if (lease && lease.owner !== this.owner && Date.parse(lease.until) > now) return undefined;
      doc.outboxLease = { owner: this.owner, until: new Date(now + this.options.leaseMs).toISOString() };
      return doc;
    });
    if (!leased || leased.after.outboxLease?.owner !== this.owner || leased.after.outbox.length === 0) return;

    const done = new Set<string>();
    let failure: unknown;
    for (const entry of leased.after.outbox) {
      try {
        await this.carryOut(entry);
        done.add(entry.id);
      } catch (err) {
        failure = err;
        break; // later entries wait: per-task order holds
      }
    }
    await this.store.update(userId, taskId, (doc) => {
      doc.outbox = doc.outbox.filter((e) => !done.has(e.id));
      if (doc.outboxLease?.owner === this.owner) delete doc.outboxLease;
      return doc;
    });
    if (failure) throw failure;
  }

  private async carryOut(entry: OutboxEntry): Promise<void> {
    switch (entry.kind) {
      case "publish":
        return this.effects.publisher.publish(entry.topic, entry.event);
      case "schedule-job":
        return this.effects.jobs.schedule(entry.name, { dueTime: entry.dueTime, data: entry.data });
      case "remove-job":
        return this.effects.jobs.remove(entry.name);
    }
  }
}
