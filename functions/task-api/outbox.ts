/**
 * The outbox relay: carries out a task's pending side effects (publish an
 * event, schedule or remove a reminder job) in order, then removes them from
 * the task document.
 *
 * The fast path costs no extra round trip: the write that adds entries also
 * stamps this replica's lease on them, and the relay works from the document
 * that write returned, then removes what it carried out with one conditional
 * write. Effects of many tasks travel together (the publisher batches them).
 *
 * What a failure leaves (daprd or Kafka down) is retried in this process with
 * backoff, with the lease renewed whenever the relay writes. A replica that
 * died leaves its entries under a lease that runs out: a sweep finds expired
 * leases (an indexed range filter, so it costs what is pending, not what the
 * container holds) and takes those outboxes over. A replica restarted under the
 * same owner name (its pod name) resumes its own at once.
 *
 * An entry whose effect happened but whose removal did not (a crash in
 * between) runs again: events keep their id, so consumers de-duplicate.
 */
import { randomUUID } from "node:crypto";
import type { Jobs } from "../../shared/host/jobs.ts";
import type { Publisher } from "../../shared/host/publisher.ts";
import type { Logger } from "../../shared/logger.ts";
import { currentTrace, inTrace, parseTraceparent, traceAttributes } from "../../shared/trace.ts";
import type { OutboxEntry, OutboxLease, TaskDoc, TaskStore } from "./store.ts";

export interface RelayOptions {
  /** This replica's name on the leases it holds; a stable name (the pod's) lets a restart resume its own. */
  owner: string;
  /** How long a lease holds off other replicas after this one last wrote the task. */
  leaseMs: number;
  /** Period of the sweep for expired leases. */
  sweepMs: number;
  /** Tasks per sweep, and tasks relayed at once by a sweep or a retry. */
  sweepBatch: number;
  /** Backoff of retries after a failure: from the first to the largest delay. */
  retryMinMs: number;
  retryMaxMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  owner: randomUUID(),
  leaseMs: 30_000,
  sweepMs: 5_000,
  sweepBatch: 200,
  retryMinMs: 500,
  retryMaxMs: 10_000,
};

/** What the relay knows of one task it is carrying out. */
interface TaskState {
  /** The newest copy of the document this replica has seen. */
  latest: TaskDoc;
  running: boolean;
  /** Resolves when this replica has nothing more to do for the task (done, gone, or handed to the retries). */
  settled: Promise<void>;
  settle(): void;
}

export class OutboxRelay {
  private readonly tasks = new Map<string, TaskState>();
  /** Tasks whose relay failed, to try again after the backoff. */
  private readonly failed = new Map<string, { userId: string; id: string }>();
  private readonly options: RelayOptions;
  private sweepTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private retrying = false;
  private sweeping: Promise<void> | undefined;
  private stopped = false;
  private expiredAtLastSweep = 0;

  constructor(
    private readonly store: TaskStore,
    private readonly effects: { publisher: Publisher; jobs: Jobs },
    private readonly log: Logger,
    options: Partial<RelayOptions> = {},
  ) {
    this.options = { ...DEFAULT_RELAY_OPTIONS, ...options };
    this.retryDelay = this.options.retryMinMs;
  }

  get owner(): string {
    return this.options.owner;
  }

  /** Tasks with entries still to carry out: in this replica's hands, and expired elsewhere at the last sweep. */
  get backlog(): number {
    return this.tasks.size + this.failed.size + this.expiredAtLastSweep;
  }

  /**
   * Puts this replica's lease on a document about to be written with new
   * outbox entries, unless another replica holds a live one (then that
   * replica carries the new entries out with its own). The entries new to
   * this write take its trace: their effects continue it, whoever carries them out.
   */
  lease(doc: TaskDoc, now = Date.now()): TaskDoc {
    if (doc.outbox.length === 0) return doc;
    const trace = currentTrace();
    if (trace) {
      const { traceparent, tracestate } = traceAttributes(trace);
      for (const entry of doc.outbox) {
        if (entry.traceparent === undefined) Object.assign(entry, { traceparent, ...(tracestate ? { tracestate } : {}) });
      }
    }
    const current = doc.outboxLease;
    if (!current || current.owner === this.owner || current.until <= now) doc.outboxLease = this.leaseFrom(now);
    return doc;
  }

  /** A write committed `doc`: carry out its outbox now if this replica holds it. Never throws. */
  afterWrite(doc: TaskDoc): void {
    if (doc.outbox.length === 0 || doc.outboxLease?.owner !== this.owner) return;
    this.track(doc);
    this.run(doc.id);
  }

  /** Relays one task's outbox; resolves when this replica has nothing more to do for it. */
  relay(doc: TaskDoc): Promise<void> {
    if (doc.outbox.length === 0 || doc.outboxLease?.owner !== this.owner) return Promise.resolve();
    const state = this.track(doc);
    this.run(doc.id);
    return state.settled;
  }

  private track(doc: TaskDoc): TaskState {
    let state = this.tasks.get(doc.id);
    if (!state) {
      let settle = () => {};
      const settled = new Promise<void>((resolve) => (settle = resolve));
      state = { latest: doc, running: false, settled, settle };
      this.tasks.set(doc.id, state);
    } else if ((doc.version ?? 0) > (state.latest.version ?? 0)) {
      state.latest = doc;
    }
    return state;
  }

  start(): void {
    void this.resumeOwn();
    const tick = () => {
      if (this.stopped) return;
      this.sweeping = this.sweep().finally(() => {
        if (!this.stopped) this.sweepTimer = setTimeout(tick, this.options.sweepMs);
      });
    };
    this.sweepTimer = setTimeout(tick, this.options.sweepMs);
  }

  /** Stops sweeping and retrying and waits for relays in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.sweeping;
    await Promise.all([...this.tasks.values()].map((s) => s.settled));
  }

  /** Takes over the outboxes whose lease ran out. */
  async sweep(): Promise<void> {
    try {
      const expired = await this.store.withExpiredOutboxLease(Date.now(), this.options.sweepBatch);
      this.expiredAtLastSweep = expired.length;
      await inBatches(expired, this.options.sweepBatch, (t) => this.takeOver(t.userId, t.id));
    } catch (err) {
      this.log.warn({ err }, "outbox sweep failed");
    }
  }

  private async resumeOwn(): Promise<void> {
    try {
      const own = await this.store.withOutboxLeasedBy(this.owner, this.options.sweepBatch);
      if (own.length > 0) this.log.info({ tasks: own.length, owner: this.owner }, "resuming outboxes this replica held before it restarted");
      await inBatches(own, this.options.sweepBatch, (t) => this.takeOver(t.userId, t.id));
    } catch (err) {
      this.log.warn({ err }, "resuming this replica's outboxes failed; the sweep will take them once their lease runs out");
    }
  }

  /** Claims a task's outbox (a conditional write), unless it is empty or another replica's live lease holds it, and relays it. */
  private async takeOver(userId: string, id: string): Promise<void> {
    if (this.tasks.has(id)) return; // already in hand
    const now = Date.now();
    const claimed = await this.store.update(userId, id, (doc) => {
      if (doc.outbox.length === 0) return undefined;
      const lease = doc.outboxLease;
      if (lease && lease.owner !== this.owner && lease.until > now) return undefined;
      doc.outboxLease = this.leaseFrom(now);
      return doc;
    });
    if (claimed && claimed.after !== claimed.before) await this.relay(claimed.after);
  }

  private run(taskId: string): void {
    const state = this.tasks.get(taskId);
    if (!state || state.running) return;
    state.running = true;
    void this.drain(state).then((outcome) => {
      state.running = false;
      if (outcome === "again") return this.run(taskId); // a newer write came in while this one finished
      this.tasks.delete(taskId);
      if (outcome === "failed") {
        this.failed.set(taskId, { userId: state.latest.userId, id: taskId });
        this.scheduleRetry();
      }
      state.settle();
    });
  }

  /** Carries out the newest copy's entries until none remain; "again" when a newer copy arrived meanwhile. */
  private async drain(state: TaskState): Promise<"done" | "failed" | "again"> {
    for (;;) {
      const doc = state.latest;
      if (doc.outbox.length === 0 || doc.outboxLease?.owner !== this.owner) return "done";
      const done = new Set<string>();
      let failure: unknown;
      for (const entry of doc.outbox) {
        try {
          await this.carryOut(entry);
          done.add(entry.id);
        } catch (err) {
          failure = err;
          break; // later entries wait: per-task order holds
        }
      }
      let after: TaskDoc | undefined;
      try {
        after = done.size > 0 ? await this.store.removeCarriedOut(doc, done, this.leaseFrom(Date.now())) : doc;
      } catch (err) {
        failure ??= err;
      }
      if (failure !== undefined) {
        this.log.warn({ err: failure, taskId: doc.id }, "outbox relay failed; will retry");
        return "failed";
      }
      if (!after) return "done"; // the task is gone
      if ((after.version ?? 0) >= (state.latest.version ?? 0)) state.latest = after;
      else return "again";
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.retrying || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retryFailed();
    }, this.retryDelay);
  }

  /**
   * Tries the failed tasks again: one first, as a probe; when it goes
   * through, the others follow and the backoff starts over, otherwise the
   * backoff doubles and the others wait untouched.
   */
  private async retryFailed(): Promise<void> {
    this.retrying = true;
    const retry = async (t: { userId: string; id: string }) => {
      this.failed.delete(t.id);
      await this.takeOver(t.userId, t.id).catch((err: unknown) => {
        this.log.warn({ err, taskId: t.id }, "outbox retry failed");
        this.failed.set(t.id, t);
      });
    };
    const [probe] = this.failed.values();
    if (probe) await retry(probe);
    if (probe && this.failed.has(probe.id)) {
      this.retryDelay = Math.min(this.retryDelay * 2, this.options.retryMaxMs);
    } else {
      this.retryDelay = this.options.retryMinMs;
      await inBatches([...this.failed.values()].slice(0, this.options.sweepBatch), this.options.sweepBatch, retry);
    }
    this.retrying = false;
    if (this.failed.size > 0) this.scheduleRetry();
  }

  private leaseFrom(now: number): OutboxLease {
    return { owner: this.owner, until: now + this.options.leaseMs };
  }

  /** Carries out one entry in the trace of the write that owed it. */
  private carryOut(entry: OutboxEntry): Promise<void> {
    return inTrace(parseTraceparent(entry.traceparent, entry.tracestate), () => this.effect(entry));
  }

  private async effect(entry: OutboxEntry): Promise<void> {
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

/** Runs `work` on every item, `width` at a time. */
const inBatches = async <T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
};
