import type { z } from "zod";
import { CloudEventEnvelope, cloudEventOf, type CloudEvent } from "../catalog/cloudevent.ts";
import type { DeadLetterKind } from "../catalog/dead-letter.ts";
import type { Logger } from "../logger.ts";
import { inTrace, parseTraceparent, startSpan, type TraceContext } from "../trace.ts";
import { deadLetterWriter, type DeadLetterWriter } from "./dead-letters.ts";
import { handlerContext, type Consumer, type FunctionDef } from "./define.ts";
import { DependencyBusy, describeError, PermanentError } from "./errors.ts";
import type { Once } from "./idempotency.ts";
import type { EventOutcome, HostMetrics } from "./metrics.ts";
import type { Publisher } from "./publisher.ts";

/** The statuses of Dapr's app contract this host answers with. */
export type DaprStatus = "SUCCESS" | "RETRY";

export interface DispatchDeps {
  publisher: Publisher;
  once: Once;
  metrics: HostMetrics;
  log: Logger;
  /** Deliveries of one event before it is dead-lettered as retries-exhausted. */
  maxAttempts: number;
}

/**
 * The one place that maps what happened to an event onto a Dapr status:
 *   handled                          → SUCCESS
 *   not addressed to this function   → SUCCESS (nothing to do)
 *   unreadable envelope / bad data   → dead-letter at once, then SUCCESS
 *   PermanentError                   → dead-letter with its reason, then SUCCESS
 *   other error                      → RETRY, until maxAttempts: then dead-letter, SUCCESS
 *   DependencyBusy (a dependency busy or out of reach, or the effect held by another delivery)
 *                                    → RETRY, not counted as an attempt
 *   dead-letter publish fails        → RETRY (the event is never dropped unrecorded)
 */
export class Dispatcher {
  private readonly routes = new Map<string, Map<string, Consumer[]>>();
  private readonly attempts = new AttemptCounter(10_000);
  private readonly deadLetters: DeadLetterWriter;

  constructor(
    private readonly fn: FunctionDef,
    private readonly deps: DispatchDeps,
  ) {
    this.deadLetters = deadLetterWriter(fn.name, deps.publisher);
    for (const consumer of fn.consumers) {
      const byType = this.routes.get(consumer.event.topic) ?? new Map<string, Consumer[]>();
      byType.set(consumer.event.type, [...(byType.get(consumer.event.type) ?? []), consumer]);
      this.routes.set(consumer.event.topic, byType);
    }
  }

  get topics(): string[] {
    return [...this.routes.keys()];
  }

  get deadLetterTopic(): string {
    return this.deadLetters.topic;
  }

  /**
   * Handles one delivered event inside its trace: a child of `parent` (daprd's span of a single
   * delivery) or else of the event's own `traceparent`, so what the handler logs, publishes and
   * calls joins the trace of the work that published the event.
   */
  async deliver(topic: string, raw: unknown, parent?: TraceContext): Promise<DaprStatus> {
    const attributes = (typeof raw === "object" && raw !== null ? raw : {}) as { type?: unknown; traceparent?: unknown; tracestate?: unknown; id?: unknown };
    const type = typeof attributes.type === "string" ? attributes.type : "unknown";
    const span = startSpan(
      `handle ${type}`,
      "CONSUMER",
      parent ?? parseTraceparent(attributes.traceparent, attributes.tracestate),
      { "messaging.destination": topic, "cloudevent.id": String(attributes.id ?? "") },
      "kafka",
    );
    const end = this.deps.metrics.handlerSeconds.startTimer({ type });
    const { status, outcome } = await inTrace(span.trace, () => this.dispatch(topic, raw));
    end();
    span.end({ outcome, ...(status === "RETRY" ? { "dapr.status": status } : {}) });
    this.deps.metrics.events.inc({ topic, type, outcome });
    return status;
  }

  private async dispatch(topic: string, raw: unknown): Promise<{ status: DaprStatus; outcome: EventOutcome }> {
    const parsed = CloudEventEnvelope.safeParse(raw);
    if (!parsed.success) {
      return dead(await this.deadLetter(topic, raw, "invalid-envelope", issuesOf(parsed.error), 1));
    }
    const ce = parsed.data;
    const consumers = this.routes.get(topic)?.get(ce.type);
    const log = this.deps.log.child({ eventId: ce.id, type: ce.type, correlationId: ce.correlationid ?? ce.id });
    if (!consumers) {
      log.debug({ topic }, "event type not handled here");
      return { status: "SUCCESS", outcome: "ignored" };
    }

    const key = `${topic}/${ce.id}`;
    const attempt = this.attempts.next(key);
    try {
      for (const consumer of consumers) {
        const data = consumer.event.schema.safeParse(ce.data);
        if (!data.success) {
          this.attempts.forget(key);
          return dead(await this.deadLetter(topic, raw, "invalid-data", issuesOf(data.error), attempt, log));
        }
        const event: CloudEvent<unknown> = cloudEventOf(ce, data.data);
        await consumer.handle(event, handlerContext(this.fn.name, event, this.deps.publisher, this.countedOnce(ce.type), log));
      }
      this.attempts.forget(key);
      return { status: "SUCCESS", outcome: "handled" };
    } catch (err) {
      if (err instanceof PermanentError) {
        this.attempts.forget(key);
        return dead(await this.deadLetter(topic, raw, "permanent", err.message, attempt, log));
      }
      if (err instanceof DependencyBusy) {
        // Wait, without using up attempts: overload or a held effect is not the event's fault.
        this.attempts.uncount(key);
        log.info({ reason: err.message }, "dependency busy; will retry");
        return { status: "RETRY", outcome: "busy" };
      }
      if (attempt >= this.deps.maxAttempts) {
        this.attempts.forget(key);
        return dead(await this.deadLetter(topic, raw, "retries-exhausted", describeError(err), attempt, log));
      }
      log.warn({ err, attempt, maxAttempts: this.deps.maxAttempts }, "handler failed; will retry");
      return { status: "RETRY", outcome: "failed" };
    }
  }

  /** once(), counting the effects it skipped as duplicates. */
  private countedOnce(type: string): Once {
    return async (key, effect) => {
      const ran = await this.deps.once(key, effect);
      if (!ran) this.deps.metrics.duplicates.inc({ type });
      return ran;
    };
  }

  private async deadLetter(
    topic: string,
    raw: unknown,
    kind: DeadLetterKind,
    reason: string,
    attempts: number,
    log: Logger = this.deps.log,
  ): Promise<DaprStatus> {
    try {
      await this.deadLetters.record({ topic, kind, reason, attempts, original: raw });
    } catch (err) {
      log.error({ err, kind, reason }, "dead-letter publish failed; will retry the event");
      return "RETRY";
    }
    log.error({ kind, reason, attempts, deadLetterTopic: this.deadLetters.topic }, "event dead-lettered");
    return "SUCCESS";
  }
}

/** A dead-letter attempt's status: dead-lettered, or RETRY when the dead-letter publish failed. */
const dead = (status: DaprStatus): { status: DaprStatus; outcome: EventOutcome } => ({
  status,
  outcome: status === "SUCCESS" ? "dead_lettered" : "failed",
});

/** Counts deliveries per event, bounded: the oldest entries go first. */
class AttemptCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly capacity: number) {}

  next(key: string): number {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.delete(key);
    this.counts.set(key, n);
    if (this.counts.size > this.capacity) {
      const oldest = this.counts.keys().next().value;
      if (oldest !== undefined) this.counts.delete(oldest);
    }
    return n;
  }

  uncount(key: string): void {
    const n = this.counts.get(key);
    if (n !== undefined && n > 1) this.counts.set(key, n - 1);
    else this.counts.delete(key);
  }

  forget(key: string): void {
    this.counts.delete(key);
  }
}

const issuesOf = (error: z.ZodError): string => error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
