import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { PublishError } from "../../shared/host/errors.ts";
import { batchedPublishAttempt, createDaprClient, daprBulkPublishAttempt, daprPublishAttempt, withRetry } from "../../shared/host/publisher.ts";
import Fastify from "fastify";

/** Stands in for daprd's HTTP API: answers the SDK's readiness probe and records publishes. */
const fakeSidecar = async (status: number, reply?: object) => {
  const requests: { url: string; contentType: string | undefined; body: unknown }[] = [];
  const app = Fastify();
  app.addContentTypeParser("application/cloudevents+json", { parseAs: "string" }, app.getDefaultJsonParser("error", "ignore"));
  app.get("/v1.0/metadata", async () => ({ id: "fake" }));
  app.post("/v1.0/publish/*", async (req, res) => {
    requests.push({ url: req.url, contentType: req.headers["content-type"], body: req.body });
    return res.code(status).send(reply);
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  return { port: typeof address === "object" && address ? address.port : 0, requests, close: () => app.close() };
};

const Noted = defineEvent({ topic: "notes", type: "note.taken.v1", schema: z.object({ text: z.string() }) });
const note = () => envelope({ event: Noted, data: { text: "hi" }, subject: "task-1", source: "test" });
const fast = { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 };

describe("publishing with bounded retry", () => {
  it("retries a failing attempt and succeeds when the sidecar recovers", async () => {
    let calls = 0;
    const publisher = withRetry(async () => {
      calls++;
      if (calls < 3) throw new Error("connection refused");
    }, fast);
    await publisher.publish("notes", note());
    expect(calls).toBe(3);
  });

  it("gives up after the bounded attempts with a PublishError naming the event, topic and cause", async () => {
    let calls = 0;
    const publisher = withRetry(async () => {
      calls++;
      throw new Error("connection refused");
    }, fast);
    const event = note();
    const err = await publisher.publish("notes", event).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({ topic: "notes", eventId: event.id });
    expect((err as Error).message).toContain("connection refused");
  });

  it("sends the envelope as application/cloudevents+json keyed by its subject", async () => {
    const sidecar = await fakeSidecar(204);
    try {
      const event = note();
      await daprPublishAttempt(createDaprClient({ daprHost: "127.0.0.1", daprPort: sidecar.port }))("notes", event);
      expect(sidecar.requests).toEqual([
        {
          url: "/v1.0/publish/pubsub/notes?metadata.partitionKey=task-1",
          contentType: "application/cloudevents+json",
          body: event,
        },
      ]);
    } finally {
      await sidecar.close();
    }
  });

  it("turns the Dapr SDK's returned { error } into a thrown error instead of losing it", async () => {
    const sidecar = await fakeSidecar(404, { errorCode: "ERR_PUBSUB_NOT_FOUND", message: "pubsub pubsub not found" });
    try {
      const err = await daprPublishAttempt(createDaprClient({ daprHost: "127.0.0.1", daprPort: sidecar.port }))("notes", note()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain("ERR_PUBSUB_NOT_FOUND");
    } finally {
      await sidecar.close();
    }
  });
});

describe("envelopes", () => {
  it("refuses to build an event whose data breaks its schema", () => {
    expect(() => envelope({ event: Noted, data: { text: 5 } as never, subject: "t", source: "test" })).toThrow(/text/);
  });

  it("defaults the correlation id to the event id and carries subject, source and type", () => {
    const e = note();
    expect(e).toMatchObject({ specversion: "1.0", correlationid: e.id, subject: "task-1", source: "test", type: "note.taken.v1" });
  });
});

/** Stands in for daprd's bulk publish API: answers each request as told and records it. */
const fakeBulkSidecar = async (answer: (entries: { entryId: string }[]) => { status: number; body?: object; delayMs?: number }) => {
  const requests: { url: string; entries: { entryId: string; event: { id: string }; contentType: string; metadata: Record<string, string> }[] }[] = [];
  const app = Fastify();
  app.post("/v1.0-alpha1/publish/bulk/*", async (req, res) => {
    const entries = req.body as (typeof requests)[number]["entries"];
    requests.push({ url: req.url, entries });
    const { status, body, delayMs } = answer(entries);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return res.code(status).send(body ?? "");
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  return { port: typeof address === "object" && address ? address.port : 0, requests, close: () => app.close() };
};

describe("bulk publishing", () => {
  const events = () => [note(), envelope({ event: Noted, data: { text: "second" }, subject: "task-2", source: "test" })];

  it("sends every envelope as cloudevents+json keyed by its subject, in one request", async () => {
    const sidecar = await fakeBulkSidecar(() => ({ status: 204 }));
    try {
      const batch = events();
      const outcomes = await daprBulkPublishAttempt({ daprHost: "127.0.0.1", daprPort: sidecar.port })("notes", batch);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect(sidecar.requests).toHaveLength(1);
      expect(sidecar.requests[0]!.url).toBe("/v1.0-alpha1/publish/bulk/pubsub/notes");
      expect(sidecar.requests[0]!.entries.map((e) => [e.event.id, e.contentType, e.metadata["partitionKey"]])).toEqual([
        [batch[0]!.id, "application/cloudevents+json", "task-1"],
        [batch[1]!.id, "application/cloudevents+json", "task-2"],
      ]);
    } finally {
      await sidecar.close();
    }
  });

  it("fails every entry when daprd fails the request and names none (broker down, breaker open)", async () => {
    const sidecar = await fakeBulkSidecar(() => ({ status: 500, body: { failedEntries: [], errorCode: "ERR_PUBSUB_PUBLISH_MESSAGE" } }));
    try {
      const outcomes = await daprBulkPublishAttempt({ daprHost: "127.0.0.1", daprPort: sidecar.port })("notes", events());
      expect(outcomes.map((o) => o.ok)).toEqual([false, false]);
    } finally {
      await sidecar.close();
    }
  });

  it("fails only the entries daprd names", async () => {
    const sidecar = await fakeBulkSidecar(() => ({ status: 500, body: { failedEntries: [{ entryId: "1", error: "broker refused" }] } }));
    try {
      const outcomes = await daprBulkPublishAttempt({ daprHost: "127.0.0.1", daprPort: sidecar.port })("notes", events());
      expect(outcomes.map((o) => o.ok)).toEqual([true, false]);
      expect(outcomes[1]).toMatchObject({ ok: false, error: expect.objectContaining({ message: "daprd: broker refused" }) });
    } finally {
      await sidecar.close();
    }
  });

  it("gives up on a request daprd does not answer in time", async () => {
    const sidecar = await fakeBulkSidecar(() => ({ status: 204, delayMs: 2_000 }));
    try {
      const attempt = daprBulkPublishAttempt({ daprHost: "127.0.0.1", daprPort: sidecar.port, timeoutMs: 200 })("notes", events());
      await expect(attempt).rejects.toThrow();
    } finally {
      await sidecar.close();
    }
  });

  it("coalesces events published at the same moment into one request, one event per task at a time", async () => {
    const sidecar = await fakeBulkSidecar(() => ({ status: 204 }));
    try {
      const publish = batchedPublishAttempt(daprBulkPublishAttempt({ daprHost: "127.0.0.1", daprPort: sidecar.port }));
      const first = envelope({ event: Noted, data: { text: "1" }, subject: "task-1", source: "test" });
      const second = envelope({ event: Noted, data: { text: "2" }, subject: "task-1", source: "test" });
      const other = envelope({ event: Noted, data: { text: "3" }, subject: "task-2", source: "test" });
      await Promise.all([publish("notes", first), publish("notes", second), publish("notes", other)]);
      expect(sidecar.requests.map((r) => r.entries.map((e) => e.event.id))).toEqual([[first.id, other.id], [second.id]]);
    } finally {
      await sidecar.close();
    }
  });
});
