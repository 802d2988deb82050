import type { FastifyInstance } from "fastify";
import { envelope, stableUuid, type CloudEvent, type EventData, type EventDef } from "../catalog/cloudevent.ts";
import type { ServiceName } from "../catalog/names.ts";
import type { Logger } from "../logger.ts";
import type { HttpError } from "./errors.ts";
import type { Once } from "./idempotency.ts";
import type { Publisher } from "./publisher.ts";
import type { RawSubscription } from "./raw-subscription.ts";

/** What a handler may use besides the event: no HTTP, no Dapr types. */
export interface HandlerContext {
  log: Logger;
  /**
   * Publishes an event caused by the one being handled: same correlation id,
   * causation id = the handled event's id, and an id derived from both, so a
   * redelivered event re-publishes the same id and downstream dedupes it.
   */
  publish<E extends EventDef>(event: E, data: EventData<E>, opts: { subject: string }): Promise<void>;
  /** Runs an effect once per key across redeliveries and restarts (Dapr state store); true if it ran now. */
  once: Once;
  /** The time now: the system clock in the host, a fixed one in tests (testConsumer). */
  now(): Date;
}

export interface Consumer<E extends EventDef = EventDef> {
  readonly event: E;
  handle(event: CloudEvent<EventData<E>>, ctx: HandlerContext): Promise<void>;
}

export const defineConsumer = <E extends EventDef>(consumer: Consumer<E>): Consumer<E> => consumer;

export interface BulkOptions {
  maxMessagesCount: number;
  maxAwaitDurationMs: number;
}

/**
 * Bulk delivery as the consumers use it: up to 100 events per push, or what
 * arrived within 50 ms. One HTTP round trip per batch instead of one per event,
 * with per-task order kept by the host (events of one task run one after another).
 */
export const BULK_DELIVERY: BulkOptions = { maxMessagesCount: 100, maxAwaitDurationMs: 50 };

/**
 * Bulk delivery for consumers no person waits on (the audit trail, next occurrences): batches
 * gathered for up to 250 ms. Dapr batches per partition, so at a moderate rate a 50 ms window
 * carries about one event and each event costs a push; a quarter second carries several, for that
 * much more latency.
 */
export const BULK_DELIVERY_RELAXED: BulkOptions = { maxMessagesCount: 100, maxAwaitDurationMs: 250 };

export interface FunctionDef {
  /** The service name: Dapr app-id, consumer group, dead-letter topic owner, `service` in logs. */
  readonly name: string;
  // biome-ignore lint/suspicious/noExplicitAny: one list holds consumers of different events (handle's parameter makes Consumer invariant); defineConsumer types each one
  readonly consumers: readonly Consumer<any>[];
  /**
   * Routes the sidecar calls besides event delivery: job callbacks, the internal API other
   * functions reach by service invocation. Served on the app port, behind the app token.
   */
  readonly sidecarRoutes?: (app: FastifyInstance) => void | Promise<void>;
  /**
   * The public API (task-api's), on its own port: the one the Ingress reaches. The function
   * authenticates its callers itself; nothing the sidecar calls is served there.
   */
  readonly publicRoutes?: (app: FastifyInstance) => void | Promise<void>;
  /** Maps failures of the function's own to HTTP answers (its store out of reach → 503, say). */
  readonly httpErrors?: (err: unknown) => HttpError | undefined;
  /** Work that runs while the function serves (task-api's outbox sweep): started once listening, stopped before exit. */
  readonly background?: { start(): void; stop(): Promise<void> };
  /**
   * Topics read record by record, whatever they hold (raw-subscription.ts): the dead-letter
   * topics, for the dead-letter tool and lag-dashboard. Nothing is dispatched by type there.
   */
  readonly rawSubscription?: RawSubscription;
  /** Bulk subscribe for every topic of this function; off unless set. */
  readonly bulk?: BulkOptions;
}

/** A function that needs nothing from outside (test functions, fixtures): its definition as it is. */
export const defineFunction = (def: FunctionDef): FunctionDef => def;

/**
 * A function whose parts need dependencies made at start-up (a store, its sidecar's clients):
 * its name, given once here, and how its definition is built from them. main.ts hands it to
 * `runFunction` with the dependencies; tests build it with fakes.
 */
export interface FunctionFactory<TDeps> {
  /** The service name (catalog): Dapr app-id, consumer group, dead-letter topic owner, `service` in logs. */
  readonly name: ServiceName;
  build(deps: TDeps): FunctionDef;
}

export const defineFunctionOf = <TDeps>(name: ServiceName, parts: (deps: TDeps) => Omit<FunctionDef, "name">): FunctionFactory<TDeps> =>
  Object.freeze({ name, build: (deps: TDeps): FunctionDef => ({ name, ...parts(deps) }) });

/** The id of an event derived from another: the same for the same cause, type and subject. */
export const derivedEventId = (causationId: string, type: string, subject: string): string => stableUuid(causationId, type, subject);

export const handlerContext = (
  service: string,
  cause: CloudEvent<unknown>,
  publisher: Publisher,
  once: Once,
  log: Logger,
  now: () => Date = () => new Date(),
): HandlerContext => ({
  log,
  once,
  now,
  async publish(event, data, { subject }) {
    await publisher.publish(
      event.topic,
      envelope({
        event,
        data,
        subject,
        source: service,
        id: derivedEventId(cause.id, event.type, subject),
        correlationId: cause.correlationId,
        causationId: cause.id,
      }),
    );
  },
});
