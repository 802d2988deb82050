/**
 * The trace context the host carries: parsed and formatted as W3C says, entered for each request,
 * delivered event (single and bulk), job callback and outbox entry, stamped on what is published
 * and scheduled, sent on calls to the sidecar, and reported as spans only when a reporter is set.
 */
import { randomBytes } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { buildApp } from "../../shared/host/app.ts";
import { defineConsumer, defineFunction, type FunctionDef } from "../../shared/host/define.ts";
import { createOnce } from "../../shared/host/idempotency.ts";
import { createDaprJobs } from "../../shared/host/jobs.ts";
import { daprBulkPublishAttempt, tracedPublisher } from "../../shared/host/publisher.ts";
import { createLogger } from "../../shared/logger.ts";
import { MemoryPublisher } from "../../shared/testing/memory-publisher.ts";
import { MemoryState } from "../../shared/testing/memory-state.ts";
import { currentTrace, formatTraceparent, inTrace, parseTraceparent, reportSpansTo, stopReportingSpans, type TraceContext } from "../../shared/trace.ts";
import { OutboxRelay } from "../../functions/task-api/outbox.ts";
import type { TaskDoc, TaskStore } from "../../functions/task-api/store.ts";

const Pinged = defineEvent({ topic: "pings", type: "ping.sent.v1", schema: z.object({ n: z.number().int() }) });
const Ponged = defineEvent({ topic: "pongs", type: "pong.sent.v1", schema: z.object({ n: z.number().int() }) });
const APP_TOKEN = "test-app-token-0123456789";

const newTrace = (): TraceContext => ({ traceId: randomBytes(16).toString("hex"), spanId: randomBytes(8).toString("hex"), sampled: true });
const traceIdOf = (traceparent: unknown) => parseTraceparent(traceparent)?.traceId;

/** What each handler saw: the trace it ran in. */
let seen: { n: number; trace: TraceContext | undefined }[] = [];
let publisher: MemoryPublisher;
let app: FastifyInstance | undefined;

const fn = (extra: Partial<FunctionDef> = {}): FunctionDef =>
  defineFunction({
    name: "tracer",
    consumers: [
      defineConsumer({
        event: Pinged,
        async handle(event, ctx) {
          await new Promise((r) => setTimeout(r, 1)); // across an await and a timer
          seen.push({ n: event.data.n, trace: currentTrace() });
          await ctx.publish(Ponged, { n: event.data.n }, { subject: event.subject ?? "none" });
        },
      }),
    ],
    ...extra,
  });

const start = async (def: FunctionDef = fn()) => {
  seen = [];
  publisher = new MemoryPublisher();
  app = await buildApp(def, {
    publisher: tracedPublisher(publisher),
    once: createOnce(new MemoryState()),
    log: createLogger("tracer", "silent"),
    maxDeliveryAttempts: 3,
    appApiToken: APP_TOKEN,
  });
  return app;
};

const ping = (n: number, trace?: TraceContext) => ({
  ...envelope({ event: Pinged, data: { n }, subject: `task-${n}`, source: "test" }),
  ...(trace ? { traceparent: formatTraceparent(trace), traceid: formatTraceparent(trace) } : {}),
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await stopReportingSpans();
});

describe("traceparent", () => {
  it("reads W3C version 00 and formats it back", () => {
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect(parseTraceparent(tp, "vendor=x")).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      sampled: true,
      traceState: "vendor=x",
    });
    expect(formatTraceparent(parseTraceparent(tp)!)).toBe(tp);
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled).toBe(false);
  });

  it("drops a tracestate that could not be sent on as a header (an event's attribute can hold anything)", () => {
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for (const bad of ["a=1\r\nx-injected: 1", "ключ=значение", "x".repeat(513), "", 7]) {
      expect(parseTraceparent(tp, bad)?.traceState, String(bad)).toBeUndefined();
    }
    expect(parseTraceparent(tp, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")?.traceState).toBe("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  });

  it("refuses what is not one (a new trace starts instead)", () => {
    for (const bad of [
      undefined,
      42,
      "",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // all-zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // version 00 has no more fields
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", // short
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });
});

describe("delivered events run in their trace", () => {
  it("a single delivery: the handler and what it publishes continue daprd's span of the delivery", async () => {
    await start();
    const published = newTrace();
    const daprdSpan = { ...published, spanId: randomBytes(8).toString("hex") };
    const res = await app!.inject({
      method: "POST",
      url: "/events/pings",
      headers: { "content-type": "application/cloudevents+json", "dapr-api-token": APP_TOKEN, traceparent: formatTraceparent(daprdSpan) },
      payload: JSON.stringify(ping(1, published)),
    });
    expect(res.json()).toEqual({ status: "SUCCESS" });
    expect(seen[0]?.trace).toMatchObject({ traceId: published.traceId, spanId: daprdSpan.spanId });
    const [pong] = publisher.on(Ponged.topic);
    expect(traceIdOf(pong?.["traceparent"])).toBe(published.traceId);
    expect(pong?.["traceid"]).toBe(pong?.["traceparent"]); // daprd keeps an envelope's trace only when traceid is set
  });

  it("a bulk delivery: each event in its own trace, whatever header daprd sent", async () => {
    await start(fn({ bulk: { maxMessagesCount: 10, maxAwaitDurationMs: 10 } }));
    const traces = [newTrace(), newTrace(), newTrace()];
    const res = await app!.inject({
      method: "POST",
      url: "/events/pings",
      headers: { "content-type": "application/json", "dapr-api-token": APP_TOKEN, traceparent: formatTraceparent(traces[2]!) },
      payload: JSON.stringify({ entries: traces.map((t, n) => ({ entryId: String(n), event: ping(n, t), contentType: "application/cloudevents+json" })) }),
    });
    expect(res.statusCode).toBe(200);
    expect(seen).toHaveLength(3);
    for (const { n, trace } of seen) expect(trace?.traceId).toBe(traces[n]!.traceId);
    for (const pong of publisher.on(Ponged.topic)) {
      expect(traceIdOf(pong["traceparent"])).toBe(traces[(pong.data as { n: number }).n]!.traceId);
    }
  });

  it("an event without a trace starts one: its handler's publishes share it", async () => {
    await start();
    await app!.inject({
      method: "POST",
      url: "/events/pings",
      headers: { "content-type": "application/cloudevents+json", "dapr-api-token": APP_TOKEN },
      payload: JSON.stringify(ping(7)),
    });
    const trace = seen[0]?.trace;
    expect(trace?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf(publisher.on(Ponged.topic)[0]?.["traceparent"])).toBe(trace?.traceId);
  });
});

describe("requests and job callbacks run in their trace", () => {
  const withRoutes = () =>
    fn({
      sidecarRoutes: (routes) => {
        routes.post("/internal/echo", async (request) => ({ body: request.body, traceId: currentTrace()?.traceId, spanId: currentTrace()?.spanId }));
        routes.post("/job/:name", async () => ({ traceId: currentTrace()?.traceId }));
      },
    });

  it("a request with a body, over a socket: the handler (after the body is read) runs in the caller's trace", async () => {
    await start(withRoutes());
    await app!.listen({ host: "127.0.0.1", port: 0 });
    const address = app!.server.address();
    const caller = newTrace();
    const res = await fetch(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/internal/echo`, {
      method: "POST",
      headers: { "content-type": "application/json", "dapr-api-token": APP_TOKEN, traceparent: formatTraceparent(caller) },
      body: JSON.stringify({ big: "x".repeat(200_000) }),
    });
    expect(await res.json()).toMatchObject({ traceId: caller.traceId, spanId: caller.spanId });
  });

  it("a job callback continues the trace its data carries (the write that scheduled it)", async () => {
    await start(withRoutes());
    const scheduledIn = newTrace();
    const res = await app!.inject({
      method: "POST",
      url: "/job/reminder-1",
      headers: { "content-type": "application/json", "dapr-api-token": APP_TOKEN, traceparent: formatTraceparent(newTrace()) },
      payload: JSON.stringify({ taskId: "t", traceparent: formatTraceparent(scheduledIn) }),
    });
    expect(res.json()).toEqual({ traceId: scheduledIn.traceId });
  });
});

/** Stands in for daprd's HTTP API: records each request's headers and body. */
const fakeSidecar = async () => {
  const requests: { url: string; traceparent: string | undefined; body: unknown }[] = [];
  const sidecar = Fastify();
  sidecar.all("/*", async (req, reply) => {
    requests.push({ url: req.url, traceparent: req.headers.traceparent as string | undefined, body: req.body });
    return reply.code(204).send();
  });
  await sidecar.listen({ host: "127.0.0.1", port: 0 });
  const address = sidecar.server.address();
  return { address: { daprHost: "127.0.0.1", daprPort: typeof address === "object" && address ? address.port : 0 }, requests, close: () => sidecar.close() };
};

describe("what leaves for the sidecar carries the trace", () => {
  it("a bulk publish carries a traceparent header only when all its events belong to one trace", async () => {
    const sidecar = await fakeSidecar();
    try {
      const send = daprBulkPublishAttempt(sidecar.address);
      const a = newTrace();
      const b = newTrace();
      await send("pings", [ping(1, a), ping(2, { ...a, spanId: randomBytes(8).toString("hex") })]);
      await send("pings", [ping(3, a), ping(4, b)]);
      expect(traceIdOf(sidecar.requests[0]?.traceparent)).toBe(a.traceId);
      expect(sidecar.requests[1]?.traceparent).toBeUndefined();
      // each entry keeps its own trace in its envelope
      const entries = (sidecar.requests[1]!.body as { event: { traceparent: string } }[]).map((e) => traceIdOf(e.event.traceparent));
      expect(entries).toEqual([a.traceId, b.traceId]);
    } finally {
      await sidecar.close();
    }
  });

  it("a job scheduled in a trace carries it in its data, and the call carries the header", async () => {
    const sidecar = await fakeSidecar();
    try {
      const trace = newTrace();
      await inTrace(trace, () => createDaprJobs(sidecar.address).schedule("reminder-1", { dueTime: "2031-01-01T00:00:00Z", data: { taskId: "t" } }));
      const [req] = sidecar.requests;
      expect(traceIdOf(req?.traceparent)).toBe(trace.traceId);
      expect((req!.body as { data: Record<string, unknown> }).data).toEqual({ taskId: "t", traceparent: formatTraceparent(trace) });
    } finally {
      await sidecar.close();
    }
  });

  it("an outbox entry takes the trace of the write that owes it", () => {
    const relay = new OutboxRelay(
      {} as TaskStore,
      { publisher: new MemoryPublisher(), jobs: { schedule: async () => {}, remove: async () => {} } },
      createLogger("task-api", "silent"),
    );
    const doc = { id: "t", userId: "u", outbox: [{ id: "e1", kind: "remove-job", name: "reminder-t" }] } as unknown as TaskDoc;
    const write = newTrace();
    inTrace(write, () => relay.lease(doc));
    expect(doc.outbox[0]?.traceparent).toBe(formatTraceparent(write));
    // an entry already owed by an earlier write keeps that write's trace
    inTrace(newTrace(), () => relay.lease(doc));
    expect(doc.outbox[0]?.traceparent).toBe(formatTraceparent(write));
  });
});

describe("spans of our own", () => {
  it("are reported to Zipkin only when a reporter is set, as one tree: request → publish", async () => {
    const received: { traceId: string; id: string; parentId?: string; name: string; kind: string }[] = [];
    const zipkin = Fastify();
    zipkin.post("/api/v2/spans", async (req, reply) => {
      received.push(...(req.body as typeof received));
      return reply.code(202).send();
    });
    await zipkin.listen({ host: "127.0.0.1", port: 0 });
    const address = zipkin.server.address();
    try {
      const out = tracedPublisher(new MemoryPublisher());
      const def = fn({
        sidecarRoutes: (routes) => {
          routes.post("/internal/pong", async () => {
            await out.publish(Ponged.topic, envelope({ event: Ponged, data: { n: 1 }, subject: "t", source: "tracer" }));
            return {};
          });
        },
      });
      const caller = newTrace();
      const call = () =>
        app!.inject({
          method: "POST",
          url: "/internal/pong",
          headers: { "content-type": "application/json", "dapr-api-token": APP_TOKEN, traceparent: formatTraceparent(caller) },
          payload: "{}",
        });
      await start(def);
      await call();
      await stopReportingSpans();
      expect(received).toEqual([]); // off: nothing recorded

      reportSpansTo(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/api/v2/spans`, "tracer");
      await call();
      await stopReportingSpans();
      const server = received.find((s) => s.kind === "SERVER");
      const producer = received.find((s) => s.kind === "PRODUCER");
      expect(server).toMatchObject({ traceId: caller.traceId, parentId: caller.spanId, name: "POST /internal/pong" });
      expect(producer).toMatchObject({ traceId: caller.traceId, parentId: server?.id, name: "publish pong.sent.v1" });
    } finally {
      await zipkin.close();
    }
  });
});
