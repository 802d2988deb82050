/**
 * Trying to break in, on the real stack: nothing reaches a function but
 * through its own sidecar, every bad token or input is a 4xx that names the
 * problem (never a 500 or a hang), and no refused request leaves an effect
 * anywhere: nothing published, no task created, no webhook called.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import Fastify from "fastify";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { envelope, type CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { ReminderDue, TaskCompleted, TaskCreated } from "../../shared/catalog/events.ts";
import { Service, Topic } from "../../shared/catalog/names.ts";
import type { TaskSnapshot } from "../../shared/catalog/task.ts";
import { eventsRoute } from "../../shared/host/app.ts";
import { createDaprPublisher } from "../../shared/host/publisher.ts";
import { endOffsetTotal, readTopicToEnd, readTopicUntil } from "../../tools/stack/topic-reader.ts";
import { startFaultProxy, type FaultProxy } from "../../tools/stack/fault-proxy.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";

const stack = inject("stack");
const secret = randomUUID() + randomUUID();
const ISSUER = "task-events-tests";
const AUDIENCE = "task-api";
const authEnv = { AUTH_JWT_SECRET: secret, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_MAX_TOKEN_LIFETIME_S: "3600" };

const key = new TextEncoder().encode(secret);
const token = (user: string, claims: { exp?: string | number; iss?: string; aud?: string; iat?: number } = {}) => {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(user)
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE);
  jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(key);
};

let taskApi: RunningFunction;
let recurring: RunningFunction;
let notifications: RunningFunction;
let audit: RunningFunction;
const webhookPosts: string[] = [];
const webhook = Fastify();

const callApi = async (api: RunningFunction, bearer: string | undefined, method: string, path: string, body?: unknown, raw?: string) => {
  const res = await fetch(`http://127.0.0.1:${api.publicPort}${path}`, {
    method,
    headers: {
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...(body === undefined && raw === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    allow: res.headers.get("allow"),
    body: text ? (JSON.parse(text) as Record<string, any>) : undefined,
  };
};
const call = async (user: string, method: string, path: string, body?: unknown) => callApi(taskApi, await token(user, { exp: "10m" }), method, path, body);

/** POSTs to a function's app port, as anyone on the network could. */
const postToApp = (fn: RunningFunction, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${fn.appPort}${path}`, {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });

beforeAll(async () => {
  webhook.post("/hook", async (request, reply) => {
    webhookPosts.push((request.body as { taskId: string }).taskId);
    return reply.code(204).send();
  });
  await webhook.listen({ host: "127.0.0.1", port: 0 });
  const address = webhook.server.address();
  const hook = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;
  taskApi = await startFunction(stack, Service.TaskApi, { env: authEnv });
  [recurring, notifications, audit] = await Promise.all([
    startFunction(stack, Service.RecurringTaskService),
    startFunction(stack, Service.NotificationService, { env: { NOTIFY_WEBHOOK_URL: hook } }),
    startFunction(stack, Service.AuditService),
  ]);
});

afterAll(async () => {
  await Promise.all([recurring?.stop(), notifications?.stop(), audit?.stop()]);
  await taskApi?.stop();
  await webhook.close();
});

describe("a function's app port answers its own sidecar only", () => {
  it("refuses a forged event to each consumer without the app token or with another, and nothing happens; the same event through the sidecar is handled", async () => {
    const victim = `victim-${randomUUID().slice(0, 6)}`;
    const real = (await call(victim, "POST", "/tasks", { title: "Daily stand-up", dueAt: "2031-01-01T09:00:00Z", recurrence: { frequency: "daily" } }))
      .body as TaskSnapshot;
    const completed = envelope({
      event: TaskCompleted,
      data: { taskId: real.id, userId: victim, task: { ...real, status: "completed" } },
      subject: real.id,
      source: "attacker",
    });
    const due = envelope({
      event: ReminderDue,
      data: { taskId: real.id, userId: victim, title: "Click this link", remindAt: "2031-01-01T08:00:00.000Z" },
      subject: real.id,
      source: "attacker",
    });
    const created = envelope({ event: TaskCreated, data: { taskId: real.id, userId: victim, task: real }, subject: real.id, source: "attacker" });
    const forged: [RunningFunction, string, CloudEventEnvelope][] = [
      [recurring, Topic.TaskEvents, completed],
      [notifications, Topic.Reminders, due],
      [audit, Topic.TaskEvents, created],
    ];
    const updatesBefore = await endOffsetTotal(stack.kafkaBrokers, Topic.TaskUpdates);
    for (const [fn, topic, event] of forged) {
      for (const headers of [{}, { "dapr-api-token": "forged-token-0123456789abcdef" }, { "dapr-caller-app-id": fn.name }] as Record<string, string>[]) {
        const res = await postToApp(fn, eventsRoute(topic), event, headers);
        expect(res.status, `${fn.name} ${JSON.stringify(headers)}`).toBe(401);
        expect(await res.json()).toMatchObject({ error: "unauthorized" });
      }
      expect((await fetch(`http://127.0.0.1:${fn.appPort}/dapr/subscribe`)).status).toBe(401);
    }
    await sleep(2_000);
    const tasks = (await call(victim, "GET", "/tasks")).body!["tasks"] as TaskSnapshot[];
    expect(tasks.map((t) => t.id)).toEqual([real.id]); // no next occurrence created for the victim
    expect(webhookPosts).not.toContain(real.id); // no reminder sent
    expect(await endOffsetTotal(stack.kafkaBrokers, Topic.TaskUpdates)).toBe(updatesBefore); // no reminder.sent published
    const history = (await call(victim, "GET", `/tasks/${real.id}/history`)).body!["entries"] as { source: string }[];
    expect(history.filter((e) => e.source === "attacker")).toEqual([]);

    // Through a sidecar the event is what the topic says: handled (in clusters, publishingScopes decide who may publish).
    await createDaprPublisher(taskApi.sidecarAddress).publish(Topic.TaskEvents, completed);
    await readTopicUntil(stack.kafkaBrokers, Topic.TaskEvents, (rs) => rs.some((r) => (r.value as CloudEventEnvelope).id === completed.id));
    await expect.poll(async () => ((await call(victim, "GET", "/tasks")).body!["tasks"] as TaskSnapshot[]).length, { timeout: 30_000, interval: 500 }).toBe(2);
  });

  it("refuses the internal API and job callbacks without the token, and a forged caller app-id with it", async () => {
    const user = `internal-${randomUUID().slice(0, 6)}`;
    const body = {
      title: "Smuggled",
      dueAt: "2031-01-01T09:00:00Z",
      recurrence: { frequency: "daily" },
      seriesId: "abc",
      occurrence: 2,
      seriesStartAt: "2031-01-01T09:00:00Z",
    };
    const internal = `/internal/users/${user}/tasks`;
    const as = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${taskApi.appPort}${internal}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    expect((await as({})).status).toBe(401);
    expect((await as({ "dapr-caller-app-id": Service.RecurringTaskService })).status).toBe(401);
    expect((await as({ "dapr-api-token": "not-the-token-0123456789" })).status).toBe(401);
    const forgedCaller = await as({ "dapr-api-token": taskApi.appApiToken, "dapr-caller-app-id": "audit-service" });
    expect(forgedCaller.status).toBe(403);
    expect(await forgedCaller.json()).toMatchObject({ error: "forbidden" });
    expect(((await call(user, "GET", "/tasks")).body!["tasks"] as unknown[]).length).toBe(0);

    const remindersBefore = await endOffsetTotal(stack.kafkaBrokers, Topic.Reminders);
    const job = await fetch(`http://127.0.0.1:${taskApi.appPort}/job/reminder-x`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ taskId: "x", userId: user, remindAt: "2031-01-01T08:00:00.000Z" }),
    });
    expect(job.status).toBe(401);
    await sleep(1_000);
    expect(await endOffsetTotal(stack.kafkaBrokers, Topic.Reminders)).toBe(remindersBefore);
  });
});

describe("bearer tokens", () => {
  const routes: [string, string, unknown?][] = [
    ["GET", "/tasks"],
    ["POST", "/tasks", { title: "x" }],
    ["GET", `/tasks/${randomUUID()}`],
    ["PATCH", `/tasks/${randomUUID()}`, { title: "y" }],
    ["POST", `/tasks/${randomUUID()}/complete`],
    ["DELETE", `/tasks/${randomUUID()}`],
    ["GET", `/tasks/${randomUUID()}/history`],
  ];

  it("answers 401 with the reason for a malformed, unsigned, expired, endless, too long, foreign or nameless token, on every route", async () => {
    const now = Math.floor(Date.now() / 1000);
    const bad: [string, string][] = [
      ["malformed", "abc.def.ghi"],
      ["not a JWT at all", "hello"],
      ["unsigned (alg none)", new UnsecuredJWT({}).setSubject("eve").setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("5m").encode()],
      ["expired", await token("eve", { exp: now - 3_600, iat: now - 7_200 })],
      ["without exp", await token("eve")],
      ["valid for too long", await token("eve", { exp: "30d" })],
      ["foreign audience", await token("eve", { exp: "5m", aud: "another-api" })],
      ["foreign issuer", await token("eve", { exp: "5m", iss: "someone-else" })],
      [
        "signed with another key",
        await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("eve")
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime("5m")
          .sign(new TextEncoder().encode("x".repeat(40))),
      ],
      ["a user id with a slash", await token("eve/../mallory", { exp: "5m" })],
    ];
    for (const [what, bearer] of bad) {
      for (const [method, path, body] of routes) {
        const res = await callApi(taskApi, bearer, method, path, body);
        expect(res.status, `${what}: ${method} ${path}`).toBe(401);
        expect(res.body, what).toMatchObject({ error: "unauthorized", reason: expect.any(String) });
      }
    }
    const none = await callApi(taskApi, undefined, "GET", "/tasks");
    expect(none).toMatchObject({ status: 401, body: { reason: "missing bearer token" } });
  });
});

describe("hostile input", () => {
  it("answers 4xx naming the problem, never 500, and stores nothing", async () => {
    const user = `hostile-${randomUUID().slice(0, 6)}`;
    const expectRefused = async (status: number, res: Awaited<ReturnType<typeof call>>, field?: string) => {
      expect(res.status).toBe(status);
      if (field) expect(res.body!["issues"]).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    };
    await expectRefused(400, await call(user, "GET", "/tasks/..%2F..%2Fetc"), "id");
    await expectRefused(400, await call(user, "GET", `/tasks/${"x".repeat(300)}`), "id");
    await expectRefused(400, await call(user, "GET", "/tasks/a%00b"), "id");
    await expectRefused(413, await call(user, "POST", "/tasks", { title: "big", description: "x".repeat(70 * 1024) }));
    const deep = `{"title":"deep","tags":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const nested = await callApi(taskApi, await token(user, { exp: "5m" }), "POST", "/tasks", undefined, deep);
    expect([400, 413]).toContain(nested.status);
    await expectRefused(
      400,
      await call(user, "POST", "/tasks", { title: "x", recurrence: { frequency: "daily", count: 9_007_199_254_740_991 }, dueAt: "2031-01-01T09:00:00Z" }),
      "recurrence.count",
    );
    await expectRefused(
      400,
      await call(user, "POST", "/tasks", { title: "x", dueAt: "2031-01-01T09:00:00Z", recurrence: { frequency: "daily", timeZone: "Mars/Olympus_Mons" } }),
      "recurrence.timeZone",
    );
    await expectRefused(
      400,
      await call(user, "POST", "/tasks", {
        title: "x",
        dueAt: "2031-01-01T09:00:00Z",
        recurrence: { frequency: "daily" },
        occurrence: 9_007_199_254_740_991,
        seriesId: "s",
      }),
      "occurrence",
    );
    await expectRefused(400, await call(user, "POST", "/tasks", { title: "x", recurrence: { frequency: "daily" } }), "recurrence");
    const task = (await call(user, "POST", "/tasks", { title: "ok", dueAt: "2031-01-01T09:00:00Z", recurrence: { frequency: "weekly" } })).body as TaskSnapshot;
    await expectRefused(400, await call(user, "PATCH", `/tasks/${task.id}`, { dueAt: null }), "recurrence");
    await expectRefused(400, await call(user, "GET", "/tasks?limit=100000"), "limit");
    await expectRefused(400, await call(user, "GET", "/tasks?cursor=%7B%7D"), "cursor");
    const wrongMethod = await call(user, "PUT", `/tasks/${task.id}`, { title: "z" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.allow).toContain("PATCH");
    const listed = (await call(user, "GET", "/tasks")).body!["tasks"] as TaskSnapshot[];
    expect(listed.map((t) => t.id)).toEqual([task.id]);
  });
});

describe("limits per user", () => {
  let limited: RunningFunction;
  beforeAll(async () => {
    limited = await startFunction(stack, Service.TaskApi, {
      instance: "task-api-limited",
      env: { ...authEnv, WRITES_PER_USER_PER_MINUTE: "8", MAX_LIVE_TASKS_PER_USER: "3" },
    });
  });
  afterAll(async () => limited?.stop());

  it("refuses creates past the live-task cap with 409 and writes past the rate with 429 and Retry-After, naming why", async () => {
    const user = `greedy-${randomUUID().slice(0, 6)}`;
    const bearer = await token(user, { exp: "10m" });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await callApi(limited, bearer, "POST", "/tasks", { title: `t${i}` })).status);
    expect(statuses).toEqual([201, 201, 201, 409]);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await callApi(limited, bearer, "PATCH", `/tasks/${randomUUID()}`, { title: "z" }));
    const tooMany = answers.filter((a) => a.status === 429);
    expect(tooMany.length).toBeGreaterThan(0);
    expect(tooMany[0]).toMatchObject({
      body: { error: "rate limited", reason: expect.stringContaining("writes a minute") },
      retryAfter: expect.stringMatching(/^\d+$/),
    });
    expect((await callApi(limited, await token(`other-${user}`, { exp: "10m" }), "POST", "/tasks", { title: "another user" })).status).toBe(201);
  });
});

describe("a store outage while a reminder comes due", () => {
  let proxy: FaultProxy;
  let cut: RunningFunction;
  beforeAll(async () => {
    proxy = await startFaultProxy({ port: Number(new URL(stack.cosmosEndpoint).port) });
    cut = await startFunction(stack, Service.TaskApi, {
      instance: "task-api-cut",
      env: { ...authEnv, COSMOS_ENDPOINT: `https://127.0.0.1:${proxy.port}`, COSMOS_REQUEST_TIMEOUT_MS: "2000" },
    });
  });
  afterAll(async () => {
    await cut?.stop();
    await proxy?.close();
  });

  it("answers writes 503 with Retry-After while the store is out, and still sends the reminder once it is back", async () => {
    const user = `outage-${randomUUID().slice(0, 6)}`;
    const bearer = await token(user, { exp: "10m" });
    const created = await callApi(cut, bearer, "POST", "/tasks", {
      title: "Water the plants",
      reminder: { remindAt: new Date(Date.now() + 4_000).toISOString() },
    });
    expect(created.status).toBe(201);
    const id = (created.body as TaskSnapshot).id;
    await readTopicUntil(stack.kafkaBrokers, Topic.Reminders, (rs) => rs.some((r) => (r.value as CloudEventEnvelope).subject === id));

    proxy.set("down");
    const refused = await callApi(cut, bearer, "POST", "/tasks", { title: "During the outage" });
    expect(refused).toMatchObject({ status: 503, retryAfter: "1", body: { error: "busy" } });
    await sleep(12_000); // the job comes due at 4 s and its handling fails: a retry job takes it from there
    proxy.set("up");

    const dueOf = (rs: { value: unknown }[]) =>
      rs.filter((r) => (r.value as CloudEventEnvelope).subject === id && (r.value as CloudEventEnvelope).type === ReminderDue.type);
    await readTopicUntil(stack.kafkaBrokers, Topic.Reminders, (rs) => dueOf(rs).length >= 1, 60_000);
    await sleep(3_000);
    expect(dueOf(await readTopicToEnd(stack.kafkaBrokers, Topic.Reminders))).toHaveLength(1);
  }, 120_000);
});
