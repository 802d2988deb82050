import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope, type CloudEvent } from "../../shared/catalog/cloudevent.ts";
import { DEAD_LETTER_TYPE, DeadLetterRecord } from "../../shared/catalog/dead-letter.ts";
import { deadLetterTopicOf, PUBSUB } from "../../shared/catalog/names.ts";
import { buildApp } from "../../shared/host/app.ts";
import { defineConsumer, defineFunction, derivedEventId, type FunctionDef } from "../../shared/host/define.ts";
import { busy, permanent } from "../../shared/host/errors.ts";
import { createLogger } from "../../shared/logger.ts";
import { createOnce } from "../../shared/host/idempotency.ts";
import { MemoryPublisher } from "../../shared/testing/memory-publisher.ts";
import { MemoryState } from "../../shared/testing/memory-state.ts";

const Pinged = defineEvent({ topic: "pings", type: "ping.sent.v1", schema: z.object({ n: z.number().int() }) });
const Ponged = defineEvent({ topic: "pongs", type: "pong.sent.v1", schema: z.object({ n: z.number().int() }) });
const Ignored = defineEvent({ topic: "pings", type: "ping.ignored.v1", schema: z.object({}) });

type Outcome = "ok" | "throw" | "permanent" | "busy" | "reply";
let outcome: Outcome;
let handled: CloudEvent<{ n: number }>[];
let publisher: MemoryPublisher;
let app: FastifyInstance;

const pinger = (extra: Partial<FunctionDef> = {}): FunctionDef =>
  defineFunction({
    name: "pinger",
    consumers: [
      defineConsumer({
        event: Pinged,
        async handle(event, ctx) {
          handled.push(event);
          if (outcome === "throw") throw new Error("database unavailable");
          if (outcome === "permanent") throw permanent("ping refers to a deleted thing");
          if (outcome === "busy") throw busy("the service it calls answered 503");
          if (outcome === "reply") await ctx.publish(Ponged, { n: event.data.n + 1 }, { subject: event.subject ?? "none" });
        },
      }),
    ],
    ...extra,
  });

/** The token the sidecar sends on every call into the app. */
const APP_TOKEN = "test-app-token-0123456789";
const sidecarHeaders = { "dapr-api-token": APP_TOKEN };

const start = async (fn: FunctionDef = pinger()) => {
  app = await buildApp(fn, {
    publisher,
    once: createOnce(new MemoryState()),
    log: createLogger("pinger", "silent"),
    maxDeliveryAttempts: 3,
    appApiToken: APP_TOKEN,
  });
};

const ping = (n: number | string, subject = "task-1") => ({ ...envelope({ event: Pinged, data: { n: 0 }, subject, source: "test" }), data: { n } });

const deliver = async (body: unknown, contentType = "application/cloudevents+json") => {
  const res = await app.inject({
    method: "POST",
    url: "/events/pings",
    headers: { "content-type": contentType, ...sidecarHeaders },
    payload: JSON.stringify(body),
  });
  return { code: res.statusCode, body: res.json() as { status?: string; statuses?: { entryId: string; status: string }[] } };
};

const deadLetters = () => publisher.on(deadLetterTopicOf("pinger")).map((e) => DeadLetterRecord.parse(e.data));

beforeEach(() => {
  outcome = "ok";
  handled = [];
  publisher = new MemoryPublisher();
});
afterEach(async () => app?.close());

describe("the Dapr app contract", () => {
  it("lists one subscription per topic with the consumer's dead-letter topic and route", async () => {
    await start();
    const res = await app.inject({ method: "GET", url: "/dapr/subscribe", headers: sidecarHeaders });
    expect(res.json()).toEqual([{ pubsubname: PUBSUB, topic: "pings", route: "/events/pings", deadLetterTopic: "pinger.dlq" }]);
  });

  it("asks for bulk delivery when the function enables it", async () => {
    await start(pinger({ bulk: { maxMessagesCount: 100, maxAwaitDurationMs: 40 } }));
    const [sub] = (await app.inject({ method: "GET", url: "/dapr/subscribe", headers: sidecarHeaders })).json();
    expect(sub.bulkSubscribe).toEqual({ enabled: true, maxMessagesCount: 100, maxAwaitDurationMs: 40 });
  });

  it("answers /healthz", async () => {
    await start();
    const res = await app.inject({ method: "GET", url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "ok", service: "pinger" });
  });

  it("accepts application/cloudevents+json deliveries and hands typed data to the handler", async () => {
    await start();
    const event = ping(7);
    expect(await deliver(event)).toEqual({ code: 200, body: { status: "SUCCESS" } });
    expect(handled).toHaveLength(1);
    expect(handled[0]).toMatchObject({ id: event.id, subject: "task-1", correlationId: event.correlationid, data: { n: 7 } });
  });

  it("acknowledges events of types it does not consume without calling a handler", async () => {
    await start();
    const other = envelope({ event: Ignored, data: {}, subject: "task-1", source: "test" });
    expect((await deliver(other)).body).toEqual({ status: "SUCCESS" });
    expect(handled).toHaveLength(0);
    expect(publisher.published).toHaveLength(0);
  });
});

describe("the sidecar's token", () => {
  it("refuses every Dapr-facing route without it or with another, before any work, and answers probes and metrics to anyone", async () => {
    await start();
    const event = ping(1);
    for (const headers of [{}, { "dapr-api-token": "not-the-token-at-all" }, { "dapr-api-token": APP_TOKEN.slice(0, -1) }]) {
      const delivery = await app.inject({
        method: "POST",
        url: "/events/pings",
        headers: { "content-type": "application/cloudevents+json", ...headers },
        payload: JSON.stringify(event),
      });
      expect(delivery.statusCode).toBe(401);
      expect(delivery.json()).toMatchObject({ error: "unauthorized" });
      expect((await app.inject({ method: "GET", url: "/dapr/subscribe", headers })).statusCode).toBe(401);
    }
    expect(handled).toHaveLength(0);
    expect(publisher.published).toHaveLength(0);
    expect((await app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(200);
  });
});

describe("outcome → Dapr status", () => {
  it("retries a transient failure, then dead-letters it as retries-exhausted on the last attempt", async () => {
    await start();
    outcome = "throw";
    const event = ping(1);
    expect((await deliver(event)).body).toEqual({ status: "RETRY" });
    expect((await deliver(event)).body).toEqual({ status: "RETRY" });
    expect(deadLetters()).toHaveLength(0);
    expect((await deliver(event)).body).toEqual({ status: "SUCCESS" });
    expect(deadLetters()).toEqual([expect.objectContaining({ kind: "retries-exhausted", attempts: 3, reason: "Error: database unavailable", topic: "pings" })]);
  });

  it("retries while a dependency is busy without spending attempts, then counts failures as before", async () => {
    await start();
    outcome = "busy";
    const event = ping(1);
    for (let i = 0; i < 10; i++) expect((await deliver(event)).body).toEqual({ status: "RETRY" });
    expect(deadLetters()).toHaveLength(0);
    outcome = "throw";
    expect((await deliver(event)).body).toEqual({ status: "RETRY" });
    expect((await deliver(event)).body).toEqual({ status: "RETRY" });
    expect((await deliver(event)).body).toEqual({ status: "SUCCESS" });
    expect(deadLetters()).toEqual([expect.objectContaining({ kind: "retries-exhausted", attempts: 3 })]);
  });

  it("dead-letters a permanent failure at once with its reason, keyed like the original", async () => {
    await start();
    outcome = "permanent";
    const event = ping(1, "task-9");
    expect((await deliver(event)).body).toEqual({ status: "SUCCESS" });
    const [dl] = publisher.on(deadLetterTopicOf("pinger"));
    expect(dl).toMatchObject({
      type: DEAD_LETTER_TYPE,
      subject: "task-9",
      source: "pinger",
      causationid: event.id,
      correlationid: event.correlationid,
    });
    expect(DeadLetterRecord.parse(dl!.data)).toMatchObject({
      service: "pinger",
      kind: "permanent",
      reason: "ping refers to a deleted thing",
      attempts: 1,
      event: expect.objectContaining({ id: event.id }),
    });
  });

  it("dead-letters schema-invalid data at once, naming the field, without calling the handler", async () => {
    await start();
    expect((await deliver(ping("seven"))).body).toEqual({ status: "SUCCESS" });
    expect(handled).toHaveLength(0);
    expect(deadLetters()).toEqual([expect.objectContaining({ kind: "invalid-data", attempts: 1 })]);
    expect(deadLetters()[0]!.reason).toMatch(/^n: /);
  });

  it("dead-letters a body that is not a CloudEvent", async () => {
    await start();
    expect((await deliver({ hello: "world" })).body).toEqual({ status: "SUCCESS" });
    expect(deadLetters()).toEqual([expect.objectContaining({ kind: "invalid-envelope" })]);
    expect(deadLetters()[0]!.reason).toContain("id");
  });

  it("retries instead of acknowledging when the dead-letter publish itself fails: nothing is dropped unrecorded", async () => {
    await start();
    outcome = "permanent";
    publisher.failWith = new Error("sidecar down");
    expect((await deliver(ping(1))).body).toEqual({ status: "RETRY" });
    publisher.failWith = undefined;
    expect((await deliver(ping(1))).body).toEqual({ status: "SUCCESS" });
  });

  it("publishes derived events with the correlation id, causation id and a deterministic id", async () => {
    await start();
    outcome = "reply";
    const event = ping(1, "task-5");
    await deliver(event);
    await deliver(event); // a redelivery publishes the same id again, so downstream can dedupe
    const pongs = publisher.on("pongs");
    expect(pongs).toHaveLength(2);
    expect(pongs[0]).toMatchObject({
      type: "pong.sent.v1",
      source: "pinger",
      subject: "task-5",
      correlationid: event.correlationid,
      causationid: event.id,
      data: { n: 2 },
    });
    expect(pongs[1]!.id).toBe(pongs[0]!.id);
    expect(pongs[0]!.id).toBe(derivedEventId(event.id, "pong.sent.v1", "task-5"));
  });
});

describe("bulk delivery", () => {
  const bulk = (events: unknown[]) => ({
    id: randomUUID(),
    topic: "pings",
    pubsubname: PUBSUB,
    type: "com.dapr.event.sent.bulk",
    entries: events.map((event, i) => ({ entryId: `e${i}`, event, contentType: "application/cloudevents+json", metadata: {} })),
  });

  it("answers one status per entry", async () => {
    await start();
    const res = await deliver(bulk([ping(1, "a"), ping("bad", "b"), ping(3, "c")]), "application/json");
    expect(res.body.statuses).toEqual([
      { entryId: "e0", status: "SUCCESS" },
      { entryId: "e1", status: "SUCCESS" },
      { entryId: "e2", status: "SUCCESS" },
    ]);
    expect(handled.map((h) => h.data.n).sort()).toEqual([1, 3]);
    expect(deadLetters()).toHaveLength(1);
  });

  it("holds back later events of a task after one of its events asks for a retry", async () => {
    let failFirst = true;
    app = await buildApp(
      defineFunction({
        name: "pinger",
        consumers: [
          defineConsumer({
            event: Pinged,
            async handle(event) {
              if (event.data.n === 1 && failFirst) {
                failFirst = false;
                throw new Error("transient");
              }
              handled.push(event);
            },
          }),
        ],
      }),
      { publisher, once: createOnce(new MemoryState()), log: createLogger("pinger", "silent"), maxDeliveryAttempts: 3, appApiToken: APP_TOKEN },
    );
    const res = await deliver(bulk([ping(1, "a"), ping(2, "a"), ping(3, "b")]), "application/json");
    expect(res.body.statuses).toEqual([
      { entryId: "e0", status: "RETRY" },
      { entryId: "e1", status: "RETRY" },
      { entryId: "e2", status: "SUCCESS" },
    ]);
    expect(handled.map((h) => h.data.n)).toEqual([3]);
  });
});

describe("metrics", () => {
  it("counts deliveries by outcome and serves them on /metrics", async () => {
    await start();
    await deliver(ping(1));
    outcome = "permanent";
    await deliver(ping(2));
    outcome = "throw";
    await deliver(ping(3));
    const res = await app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    const line = (outcomeLabel: string) => `taskapp_events_total{topic="pings",type="ping.sent.v1",outcome="${outcomeLabel}",service="pinger"} 1`;
    expect(res.body).toContain(line("handled"));
    expect(res.body).toContain(line("dead_lettered"));
    expect(res.body).toContain(line("failed"));
    expect(res.body).toContain('taskapp_handler_duration_seconds_count{service="pinger",type="ping.sent.v1"} 3');
  });
});
