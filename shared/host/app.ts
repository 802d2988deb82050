import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { z } from "zod";
import { PUBSUB } from "../catalog/names.ts";
import type { Logger } from "../logger.ts";
import type { FunctionDef } from "./define.ts";
import { Dispatcher, type DaprStatus } from "./dispatch.ts";
import type { Once } from "./idempotency.ts";
import { HostMetrics } from "./metrics.ts";
import type { Publisher } from "./publisher.ts";

export interface HostDeps {
  publisher: Publisher;
  once: Once;
  /** Created for the function if not given; give it to instrument what is built outside (publisher, gauges). */
  metrics?: HostMetrics;
  log: Logger;
  maxDeliveryAttempts: number;
}

/** Largest event batch body accepted from the sidecar (bulk subscribe). */
const EVENTS_BODY_LIMIT = 16 * 1024 * 1024;

export const eventsRoute = (topic: string): string => `/events/${encodeURIComponent(topic)}`;

/** The subscription list Dapr reads from GET /dapr/subscribe. */
export const subscriptionsOf = (fn: FunctionDef, deadLetterTopic: string, topics: string[]) =>
  topics.map((topic) => ({
    pubsubname: PUBSUB,
    topic,
    route: eventsRoute(topic),
    deadLetterTopic,
    ...(fn.bulk
      ? {
          bulkSubscribe: {
            enabled: true,
            maxMessagesCount: fn.bulk.maxMessagesCount,
            maxAwaitDurationMs: fn.bulk.maxAwaitDurationMs,
          },
        }
      : {}),
  }));

const BulkRequest = z.object({
  entries: z.array(
    z.looseObject({ entryId: z.string(), event: z.unknown(), contentType: z.string().optional() }),
  ),
});

/**
 * Builds a function as a Dapr app, without listening: tests drive it with
 * `inject`, main.ts listens. It serves the Dapr contract (subscriptions, event
 * delivery single and bulk), /healthz, and the function's own routes.
 */
export const buildApp = async (fn: FunctionDef, deps: HostDeps): Promise<FastifyInstance> => {
  // fastify's logger type trails pino's by a major version; the instance is compatible.
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // One log line per event comes from the dispatcher; per-request lines would double the hot path's logging.
    logController: new LogController({ disableRequestLogging: true }),
  });
  const metrics = deps.metrics ?? new HostMetrics(fn.name);
  const dispatcher = new Dispatcher(fn, {
    publisher: deps.publisher,
    once: deps.once,
    metrics,
    log: deps.log,
    maxAttempts: deps.maxDeliveryAttempts,
  });

  // Dapr delivers single events as application/cloudevents+json.
  app.addContentTypeParser(
    ["application/cloudevents+json", "application/cloudevents-batch+json"],
    { parseAs: "string", bodyLimit: EVENTS_BODY_LIMIT },
    app.getDefaultJsonParser("error", "ignore"),
  );

  app.get("/healthz", async () => ({ status: "ok", service: fn.name }));

  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.get("/dapr/subscribe", async () => subscriptionsOf(fn, dispatcher.deadLetterTopic, dispatcher.topics));

  for (const topic of dispatcher.topics) {
    app.post(eventsRoute(topic), { bodyLimit: EVENTS_BODY_LIMIT }, async (request) => {
      const bulk = BulkRequest.safeParse(request.body);
      if (!bulk.success) {
        return { status: await dispatcher.deliver(topic, request.body) };
      }
      return { statuses: await deliverBulk(dispatcher, topic, bulk.data.entries) };
    });
  }

  await fn.routes?.(app);
  return app;
};

/**
 * A bulk batch mixes partitions. Events of one subject (task) are handled in
 * order; different subjects run concurrently.
 */
const deliverBulk = async (
  dispatcher: Dispatcher,
  topic: string,
  entries: { entryId: string; event: unknown }[],
): Promise<{ entryId: string; status: DaprStatus }[]> => {
  const bySubject = new Map<string, { entryId: string; event: unknown }[]>();
  for (const entry of entries) {
    const subject = subjectOf(entry.event) ?? entry.entryId;
    bySubject.set(subject, [...(bySubject.get(subject) ?? []), entry]);
  }
  const statuses = new Map<string, DaprStatus>();
  await Promise.all(
    [...bySubject.values()].map(async (chain) => {
      let blocked = false;
      for (const entry of chain) {
        // After a RETRY, later events of the same task wait for it: per-task order holds.
        const status: DaprStatus = blocked ? "RETRY" : await dispatcher.deliver(topic, entry.event);
        blocked ||= status === "RETRY";
        statuses.set(entry.entryId, status);
      }
    }),
  );
  return entries.map((e) => ({ entryId: e.entryId, status: statuses.get(e.entryId) ?? "RETRY" }));
};

const subjectOf = (event: unknown): string | undefined =>
  typeof event === "object" && event !== null && typeof (event as { subject?: unknown }).subject === "string"
    ? (event as { subject: string }).subject
    : undefined;
