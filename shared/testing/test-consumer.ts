/**
 * Runs one consumer's rule on one event, in memory: the consumer definition as the function
 * defines it, the event built and validated with its definition, and fakes for everything the
 * handler reaches (the state store behind `once`, the publisher, service invocation through
 * whatever client the consumer was built with, the clock). What comes back is what the rule did:
 * how it ended, what it published, what it invoked, what it stored.
 *
 *   const tasks = new MemoryTaskApi();
 *   const run = await testConsumer(onTaskCompleted({ tasks: taskApiClient(tasks.invoker) }), { data }, { invoker: tasks.invoker });
 *   expect(run.outcome).toBe("handled");
 *
 * The publish semantics are the host's own (handlerContext: derived ids, correlation and
 * causation); how an outcome becomes a Dapr status and a dead letter is the dispatcher's, tested
 * with it (tests/unit/host.test.ts). The real-stack tests show the same rules end to end.
 */
import { randomUUID } from "node:crypto";
import { cloudEventOf, envelope, type CloudEvent, type CloudEventEnvelope, type EventData, type EventDef } from "../catalog/cloudevent.ts";
import { type Consumer, handlerContext } from "../host/define.ts";
import { DependencyBusy, PermanentError } from "../host/errors.ts";
import { createOnce } from "../host/idempotency.ts";
import { createLogger } from "../logger.ts";
import type { InvokeCall, MemoryInvoker } from "./memory-invoker.ts";
import { MemoryPublisher } from "./memory-publisher.ts";
import { MemoryState } from "./memory-state.ts";

/** The event to deliver: its data, and any envelope attribute a test wants fixed. */
export interface TestEvent<E extends EventDef> {
  data: EventData<E>;
  id?: string;
  /** Defaults to the data's taskId. */
  subject?: string;
  source?: string;
  time?: string;
  correlationId?: string;
  causationId?: string;
  writeSeq?: number;
}

/** The fakes a consumer's rule runs against; pass the same ones to several runs to see redeliveries. */
export interface ConsumerFakes {
  /** The state store behind ctx.once. */
  state?: MemoryState;
  publisher?: MemoryPublisher;
  /** The invoker the consumer's clients were built with, to report its calls. */
  invoker?: MemoryInvoker;
  /** The time the handler sees (ctx.now and once's leases). */
  clock?: () => Date;
  /** The function the consumer belongs to: the source of what it publishes. */
  service?: string;
}

export type ConsumerOutcome =
  /** The handler returned: the host acknowledges. */
  | "handled"
  /** It threw PermanentError: the host dead-letters at once. */
  | "permanent"
  /** It threw DependencyBusy: the host retries without counting an attempt. */
  | "busy"
  /** It threw anything else: the host retries, and dead-letters after the last attempt. */
  | "failed";

export interface ConsumerRun {
  outcome: ConsumerOutcome;
  error?: unknown;
  /** The event as the handler received it. */
  event: CloudEvent<unknown>;
  /** What this run published (topic and CloudEvent). */
  published: { topic: string; event: CloudEventEnvelope }[];
  /** The service invocations this run made. */
  invoked: InvokeCall[];
  /** The state store after the run: the effects claimed with once. */
  stored: MemoryState["entries"];
}

export const testConsumer = async <E extends EventDef>(consumer: Consumer<E>, input: TestEvent<E>, fakes: ConsumerFakes = {}): Promise<ConsumerRun> => {
  const state = fakes.state ?? new MemoryState();
  const publisher = fakes.publisher ?? new MemoryPublisher();
  const clock = fakes.clock ?? (() => new Date());
  const service = fakes.service ?? "consumer-under-test";
  const sent = envelope({
    event: consumer.event,
    data: input.data,
    subject: input.subject ?? (input.data as { taskId?: string }).taskId ?? randomUUID(),
    source: input.source ?? "test",
    time: input.time ?? clock().toISOString(),
    ...(input.id ? { id: input.id } : {}),
    ...(input.correlationId ? { correlationId: input.correlationId } : {}),
    ...(input.causationId ? { causationId: input.causationId } : {}),
    ...(input.writeSeq !== undefined ? { writeSeq: input.writeSeq } : {}),
  });
  const event: CloudEvent<EventData<E>> = cloudEventOf(sent, consumer.event.schema.parse(sent.data) as EventData<E>);
  const publishedBefore = publisher.published.length;
  const invokedBefore = fakes.invoker?.calls.length ?? 0;
  const once = createOnce(state, 15_000, () => clock().getTime());
  const ctx = handlerContext(service, event, publisher, once, createLogger(service, "silent"), clock);
  let outcome: ConsumerOutcome = "handled";
  let error: unknown;
  try {
    await consumer.handle(event, ctx);
  } catch (err) {
    error = err;
    outcome = err instanceof PermanentError ? "permanent" : err instanceof DependencyBusy ? "busy" : "failed";
  }
  return {
    outcome,
    ...(error === undefined ? {} : { error }),
    event,
    published: publisher.published.slice(publishedBefore),
    invoked: fakes.invoker?.calls.slice(invokedBefore) ?? [],
    stored: state.entries,
  };
};
