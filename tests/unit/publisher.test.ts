import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { PublishError } from "../../shared/host/errors.ts";
import { createDaprClient, daprPublishAttempt, withRetry } from "../../shared/host/publisher.ts";
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
      await daprPublishAttempt(createDaprClient("127.0.0.1", sidecar.port))("notes", event);
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
      const err = await daprPublishAttempt(createDaprClient("127.0.0.1", sidecar.port))("notes", note()).catch((e: unknown) => e);
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
