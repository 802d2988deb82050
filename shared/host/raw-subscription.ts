/**
 * Raw subscriptions: every record of some topics, whatever it holds, handed to the function as
 * text. The one way here to read a topic whose records are not all events of the catalog: the
 * dead-letter topics, where the host's records and the originals Dapr forwards itself (any type,
 * maybe not a CloudEvent at all) lie side by side. The dead-letter tool and lag-dashboard read them
 * through this (FunctionDef.rawSubscription).
 *
 * Unlike event delivery (dispatch.ts) nothing is dispatched by type, validated or dead-lettered:
 * the subscription has no dead-letter topic, Dapr hands over each record's bytes untouched
 * (`rawPayload`), and every record is answered SUCCESS once `receive` returned. A `receive` that
 * throws is answered with an error, so Dapr delivers the record again.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { PUBSUB } from "../catalog/names.ts";

export interface RawRecord {
  topic: string;
  /** The record's value as text, its bytes untouched. */
  text: string;
  /** Identifies the record: a redelivery of the same record has the same key. */
  key: string;
}

export interface RawSubscription {
  readonly topics: readonly string[];
  receive(record: RawRecord): void | Promise<void>;
}

/** Largest record body accepted from the sidecar. */
const RAW_BODY_LIMIT = 16 * 1024 * 1024;

export const rawRoute = (topic: string): string => `/raw/${encodeURIComponent(topic)}`;

/** What GET /dapr/subscribe lists for a raw subscription: one raw-payload subscription per topic, no dead-letter topic. */
export const rawSubscriptionsOf = (subscription: RawSubscription) =>
  subscription.topics.map((topic) => ({
    pubsubname: PUBSUB,
    topic,
    route: rawRoute(topic),
    metadata: { rawPayload: "true" },
  }));

const stringField = (value: unknown, field: string): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined;
  const v = (value as Record<string, unknown>)[field];
  return typeof v === "string" ? v : undefined;
};

/**
 * Dapr delivers the records of a raw-payload subscription wrapped in an envelope of its own, the
 * record's bytes in `data_base64`: returns those bytes as text.
 */
export const recordTextOf = (delivery: unknown): string => {
  const base64 = stringField(delivery, "data_base64");
  if (base64 !== undefined) return Buffer.from(base64, "base64").toString("utf8");
  if (typeof delivery === "object" && delivery !== null && "data" in delivery) {
    const data = (delivery as { data: unknown }).data;
    return typeof data === "string" ? data : JSON.stringify(data);
  }
  return typeof delivery === "string" ? delivery : JSON.stringify(delivery);
};

/** Identifies a delivered record by its position headers (as daprd sets them) and its bytes. */
export const recordKey = (text: string, headers: Record<string, string | string[] | undefined>): string => {
  const position = ["__topic", "__partition", "__offset", "__key"].map((h) => String(headers[h] ?? "")).join("/");
  return createHash("sha256").update(position).update("\n").update(text).digest("hex");
};

/**
 * Serves a raw subscription's routes on a function's sidecar-facing app (buildApp calls it): in a
 * scope of their own, where any body is kept as text, so a record is never refused for its type.
 */
export const serveRawSubscription = async (app: FastifyInstance, subscription: RawSubscription): Promise<void> => {
  await app.register(async (scope) => {
    scope.addContentTypeParser("*", { parseAs: "string", bodyLimit: RAW_BODY_LIMIT }, (_request, body, done) => done(null, body));
    for (const topic of subscription.topics) {
      scope.post(rawRoute(topic), { bodyLimit: RAW_BODY_LIMIT }, async (request) => {
        const text = recordTextOf(request.body);
        await subscription.receive({ topic, text, key: recordKey(text, request.headers) });
        return { status: "SUCCESS" };
      });
    }
  });
};
