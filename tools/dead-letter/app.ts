/**
 * The tool's own Dapr app: it subscribes to dead-letter topics and keeps every
 * record, whatever its type, and always answers SUCCESS, so reading never
 * retries or dead-letters anything.
 *
 * Not built with the function host: the host dispatches by CloudEvent type and
 * answers SUCCESS to types it does not consume, so the originals Dapr forwards
 * (any type) would be skipped unseen; and it would dead-letter what it cannot
 * read. The subscriptions are raw-payload ones: Dapr hands over each record's
 * bytes untouched (base64 in `data_base64`), including records that are not a
 * CloudEvent at all.
 */
import Fastify, { type FastifyInstance } from "fastify";
import { PUBSUB } from "../../shared/catalog/names.ts";
import { requireAppToken } from "../../shared/host/app.ts";
import { parseDeadLetter, recordKey, recordTextOf, type DeadLetterEntry } from "./records.ts";

export const deadLetterRoute = (topic: string): string => `/dead-letters/${encodeURIComponent(topic)}`;

/** What GET /dapr/subscribe answers: one raw-payload subscription per topic, no dead-letter topic of its own. */
export const toolSubscriptions = (topics: readonly string[]) =>
  topics.map((topic) => ({
    pubsubname: PUBSUB,
    topic,
    route: deadLetterRoute(topic),
    metadata: { rawPayload: "true" },
  }));

/** The records received per topic, a redelivered record once, in the order they came. */
export class Collector {
  private readonly byTopic = new Map<string, Map<string, DeadLetterEntry>>();

  constructor(topics: readonly string[]) {
    for (const topic of topics) this.byTopic.set(topic, new Map());
  }

  add(topic: string, text: string, headers: Record<string, string | string[] | undefined>): void {
    const records = this.byTopic.get(topic);
    if (!records) return;
    const key = recordKey(text, headers);
    if (!records.has(key)) records.set(key, parseDeadLetter(text));
  }

  entries(topic: string): DeadLetterEntry[] {
    return [...(this.byTopic.get(topic)?.values() ?? [])];
  }
}

/** Builds the app (not listening); `name` is its app-id, for /healthz; only its sidecar (`appApiToken`) is answered. */
export const buildToolApp = (name: string, topics: readonly string[], collector: Collector, appApiToken: string): FastifyInstance => {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
  requireAppToken(app, appApiToken);
  app.addContentTypeParser(
    ["application/cloudevents+json", "application/cloudevents-batch+json"],
    { parseAs: "string" },
    app.getDefaultJsonParser("error", "ignore"),
  );
  // Anything else is kept as text: a record must never be refused.
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));

  app.get("/healthz", async () => ({ status: "ok", service: name }));
  app.get("/dapr/subscribe", async () => toolSubscriptions(topics));
  for (const topic of topics) {
    app.post(deadLetterRoute(topic), async (request) => {
      collector.add(topic, recordTextOf(request.body), request.headers);
      return { status: "SUCCESS" };
    });
  }
  return app;
};
