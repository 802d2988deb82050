/**
 * Traces end to end, with tracing on as `npm run dev -- --tracing` has it: a local Zipkin, daprd's
 * tracing exporting to it, the functions reporting their own spans. One write is one trace, read
 * back from Zipkin's API, that spans task-api, the pub/sub hop through Kafka (daprd's spans on both
 * sides) and each consumer the write reaches.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { Service } from "../../shared/catalog/names.ts";
import { renderDaprResources } from "../../tools/stack/dapr.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { waitUntil } from "../../tools/stack/process.ts";
import type { StackInfo } from "../../tools/stack/stack.ts";
import { startZipkin, type Zipkin } from "../../tools/stack/zipkin.ts";

const base = inject("stack");
const secret = randomUUID() + randomUUID();
const user = `tracer-${randomUUID().slice(0, 8)}`;

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** A webhook receiver that keeps the trace each reminder came with. */
let webhook: FastifyInstance;
const reminders: { taskId: string; traceparent: string | undefined }[] = [];

let zipkin: Zipkin;
let stack: StackInfo;
let taskApi: RunningFunction;
const consumers: RunningFunction[] = [];

const newTraceparent = () => {
  const traceId = randomBytes(16).toString("hex");
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` };
};

const call = async (method: string, path: string, traceparent: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${taskApi.publicPort}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await mintToken(secret, user)}`,
      traceparent,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as { id: string } };
};

const traceOf = async (traceId: string): Promise<ZipkinSpan[]> => {
  const res = await fetch(`${zipkin.url}/api/v2/trace/${traceId}`);
  return res.status === 404 ? [] : ((await res.json()) as ZipkinSpan[]);
};

/** Waits until the trace has every span `complete` asks for (spans reach Zipkin within a second or two of their end). */
const traceUntil = async (traceId: string, complete: (spans: ZipkinSpan[]) => boolean, timeoutMs = 45_000): Promise<ZipkinSpan[]> => {
  let spans: ZipkinSpan[] = [];
  await waitUntil(
    `trace ${traceId} in Zipkin`,
    async () => {
      spans = await traceOf(traceId);
      return complete(spans);
    },
    { timeoutMs, intervalMs: 500 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\nspans so far:\n${spans.map(line).join("\n")}`);
  });
  return spans;
};

const line = (s: ZipkinSpan) => `${s.localEndpoint?.serviceName ?? "?"} ${s.kind ?? ""} ${s.name ?? ""} ${s.id}<-${s.parentId ?? "root"}`;
const logLines = (service: string): Record<string, unknown>[] =>
  readFileSync(join(stack.logDir, `${service}.log`), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const services = (spans: ZipkinSpan[]) => new Set(spans.map((s) => s.localEndpoint?.serviceName));
/** Zipkin keeps span names in lower case: `name` is matched without regard to case. */
const has = (spans: ZipkinSpan[], service: string, name: RegExp, kind?: string) =>
  spans.some((s) => s.localEndpoint?.serviceName === service && name.test(s.name ?? "") && (!kind || s.kind === kind));

/** Every span hangs from another span of the trace, or from the client's (the traceparent it sent). */
const oneTree = (spans: ZipkinSpan[], traceparent: string): boolean => {
  const ids = new Set(spans.map((s) => s.id));
  return spans.every((s) => s.parentId === undefined || ids.has(s.parentId) || s.parentId === traceparent.split("-")[2]);
};

beforeAll(async () => {
  webhook = Fastify();
  webhook.post("/hook", async (request, reply) => {
    reminders.push({ taskId: (request.body as { taskId: string }).taskId, traceparent: request.headers.traceparent as string | undefined });
    return reply.code(204).send();
  });
  await webhook.listen({ host: "127.0.0.1", port: 0 });
  const address = webhook.server.address();
  const webhookUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;

  zipkin = await startZipkin({ logFile: join(base.logDir, "zipkin.log"), pidDir: base.pidDir });
  // The stack's resources, with the configuration `npm run dev -- --tracing` renders.
  const traced = renderDaprResources(
    join(base.dataDir, "dapr-traced"),
    {
      KAFKA_BROKERS: base.kafkaBrokers,
      STATE_DB: join(base.dataDir, "state", "state.db"),
      NAME_RESOLUTION_DB: join(base.dataDir, "state", "name-resolution.db"),
    },
    { zipkinSpansUrl: zipkin.spansUrl },
  );
  stack = { ...base, configFile: traced.configFile, zipkin: { url: zipkin.url, spansUrl: zipkin.spansUrl } };

  taskApi = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret } });
  consumers.push(
    ...(await Promise.all([
      startFunction(stack, Service.AuditService),
      startFunction(stack, Service.RecurringTaskService),
      startFunction(stack, Service.NotificationService, { env: { NOTIFY_WEBHOOK_URL: webhookUrl } }),
    ])),
  );
});

afterAll(async () => {
  await Promise.all(consumers.map((f) => f.stop()));
  await taskApi?.stop();
  await zipkin?.stop();
  await webhook?.close();
});

describe("one write, one trace", () => {
  it("a create with a reminder: task-api, Kafka, audit-service, and the reminder through the Jobs API to notification-service and its webhook", async () => {
    const { traceId, traceparent } = newTraceparent();
    const created = await call("POST", "/tasks", traceparent, {
      title: "Call the plumber",
      reminder: { remindAt: new Date(Date.now() + 2_000).toISOString() },
    });
    expect(created.status).toBe(201);

    // Our spans and daprd's (which reach Zipkin in batches, some seconds later), as one tree.
    const spans = await traceUntil(
      traceId,
      (s) =>
        oneTree(s, traceparent) &&
        has(s, Service.TaskApi, /^POST \/tasks$/i) &&
        // the pub/sub hop: daprd's publish to Kafka, and daprd's delivery from it on the consumer's side
        has(s, Service.TaskApi, /^\/v1\.0-alpha1\/publish\/bulk\/pubsub\/task-events$/i, "PRODUCER") &&
        has(s, Service.AuditService, /^pubsub\/task-events$/i) &&
        has(s, Service.AuditService, /^handle task\.created/i) &&
        // the reminder: the job scheduled through daprd, its callback, reminder.due to notification-service
        has(s, Service.TaskApi, /^\/v1\.0\/jobs\//i) &&
        has(s, Service.TaskApi, /^POST \/job\//i) &&
        has(s, Service.NotificationService, /^pubsub\/reminders$/i) &&
        has(s, Service.NotificationService, /^handle reminder\.due/i) &&
        has(s, Service.NotificationService, /^POST webhook$/i) &&
        has(s, Service.AuditService, /^handle reminder\.sent/i),
    );
    expect([...services(spans)]).toEqual(expect.arrayContaining([Service.TaskApi, Service.AuditService, Service.NotificationService]));
    // The webhook call carried the trace too.
    const sent = reminders.find((r) => r.taskId === created.body.id);
    expect(sent?.traceparent?.split("-")[1]).toBe(traceId);
    // And the consumer's log lines: the reminder it sent, with the trace id.
    expect(logLines(Service.NotificationService).some((l) => l["msg"] === "reminder" && l["trace_id"] === traceId && typeof l["span_id"] === "string")).toBe(
      true,
    );
  });

  it("completing a recurring task: task-api, Kafka, recurring-task-service, its call back into task-api, and audit-service for both tasks", async () => {
    const { traceparent: first } = newTraceparent();
    const task = await call("POST", "/tasks", first, { title: "Water the plants", dueAt: "2031-05-10T07:30:00.000Z", recurrence: { frequency: "daily" } });
    expect(task.status).toBe(201);

    const { traceId, traceparent } = newTraceparent();
    expect((await call("POST", `/tasks/${task.body.id}/complete`, traceparent)).status).toBe(200);
    const spans = await traceUntil(
      traceId,
      (s) =>
        oneTree(s, traceparent) &&
        has(s, Service.TaskApi, /^POST \/tasks\/:id\/complete$/i) &&
        has(s, Service.RecurringTaskService, /^pubsub\/task-events$/i) &&
        has(s, Service.RecurringTaskService, /^handle task\.completed/i) &&
        // service invocation: through both sidecars into task-api's internal API
        has(s, Service.RecurringTaskService, /^calllocal\/task-api\//i) &&
        has(s, Service.TaskApi, /^POST \/internal\/users\/:userId\/tasks$/i) &&
        has(s, Service.AuditService, /^handle task\.completed/i) &&
        // the next occurrence's task.created, published by task-api on recurring-task-service's call
        createdWithin(s, /^POST \/internal\/users/i),
    );
    expect([...services(spans)]).toEqual(expect.arrayContaining([Service.TaskApi, Service.RecurringTaskService, Service.AuditService]));
    expect(logLines(Service.RecurringTaskService).some((l) => l["msg"] === "next occurrence created" && l["trace_id"] === traceId)).toBe(true);
    const ids = new Set(spans.map((s) => s.id));
    const orphans = spans.filter((s) => s.parentId !== undefined && !ids.has(s.parentId) && s.parentId !== traceparent.split("-")[2]);
    expect(orphans.map(line)).toEqual([]);
  });

  it("concurrent writes whose events share bulk publish requests: each event's consumers stay in its own write's trace", async () => {
    const writes = Array.from({ length: 24 }, () => newTraceparent());
    const created = await Promise.all(writes.map((w, i) => call("POST", "/tasks", w.traceparent, { title: `Batch ${i}` })));
    expect(created.map((c) => c.status)).toEqual(writes.map(() => 201));
    for (const w of writes) {
      const spans = await traceUntil(
        w.traceId,
        (s) => oneTree(s, w.traceparent) && has(s, Service.TaskApi, /^POST \/tasks$/i) && has(s, Service.AuditService, /^handle task\.created/i),
      );
      // exactly this write's task.created reached audit-service in this trace, and no other write's
      expect(spans.filter((s) => s.localEndpoint?.serviceName === Service.AuditService && /^handle task\.created/i.test(s.name ?? ""))).toHaveLength(1);
    }
  });
});

/** An audit-service span for a task.created published while task-api answered the call named `call` (the next occurrence). */
const createdWithin = (spans: ZipkinSpan[], call: RegExp): boolean => {
  const invoke = spans.find((s) => s.localEndpoint?.serviceName === Service.TaskApi && call.test(s.name ?? ""));
  if (!invoke) return false;
  const byId = new Map(spans.map((s) => [s.id, s]));
  return spans.some((s) => {
    if (s.localEndpoint?.serviceName !== Service.AuditService || !/^handle task\.created/i.test(s.name ?? "")) return false;
    for (let p = s.parentId; p; p = byId.get(p)?.parentId) if (p === invoke.id) return true;
    return false;
  });
};
