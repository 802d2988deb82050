/**
 * task-api as it runs in production: its own process (main.ts) with its own
 * daprd, tasks in the Cosmos-compatible server, events through Dapr to Kafka,
 * reminders through the Dapr scheduler.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { ReminderCancelled, ReminderDue, ReminderScheduled, TaskCompleted, TaskCreated, TaskDeleted, TaskUpdated } from "../../shared/catalog/events.ts";
import { Service, Topic } from "../../shared/catalog/names.ts";
import { endOffsetTotal, readTopicToEnd, readTopicUntil, type TopicRecord } from "../../tools/stack/topic-reader.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

const stack = inject("stack");
const secret = randomUUID() + randomUUID();
let api: RunningFunction;
let base: string;
const tokens = new Map<string, string>();

const call = async (user: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  if (user && !tokens.has(user)) tokens.set(user, await mintToken(secret, user));
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(user ? { authorization: `Bearer ${tokens.get(user)}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined, headers: res.headers };
};

type Envelope = { id: string; type: string; subject: string; data: Record<string, any> };
const eventsOf = (records: TopicRecord[], taskId: string) =>
  records.filter((r) => (r.value as Envelope).subject === taskId).map((r) => ({ key: r.key, ...(r.value as Envelope) }));
const readUntil = (topic: string, done: (records: TopicRecord[]) => boolean, timeoutMs = 30_000) => readTopicUntil(stack.kafkaBrokers, topic, done, timeoutMs);

beforeAll(async () => {
  api = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret, LOG_LEVEL: "info" } });
  base = `http://127.0.0.1:${api.publicPort}`;
});
afterAll(async () => api?.stop());

describe("task-api writes", () => {
  it("publishes task.created on task-events keyed by the task id, valid against the exported JSON Schema", async () => {
    const created = await call("alice", "POST", "/tasks", { title: "Buy milk", priority: "high", tags: ["shop"] });
    expect(created.status).toBe(201);
    const id = created.body!["id"] as string;
    const records = await readUntil(Topic.TaskEvents, (rs) => eventsOf(rs, id).length >= 1);
    const [event] = eventsOf(records, id);
    expect(event).toMatchObject({ key: id, type: TaskCreated.type, subject: id, data: { taskId: id, userId: "alice" } });

    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    const schema = JSON.parse(readFileSync(join(repoRoot, `docs/schemas/${TaskCreated.type}.json`), "utf8"));
    const valid = ajv.validate(schema, records.find((r) => (r.value as Envelope).id === event!.id)!.value);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it("rejects an invalid create with 400 naming each field, and publishes nothing", async () => {
    const before = await endOffsetTotal(stack.kafkaBrokers, Topic.TaskEvents);
    const res = await call("alice", "POST", "/tasks", { title: "", priority: "urgent", colour: "red" });
    expect(res.status).toBe(400);
    expect(res.body!["issues"].map((i: { field: string }) => i.field).sort()).toEqual(["colour", "priority", "title"]);
    await sleep(2_500); // two relay sweeps
    expect(await endOffsetTotal(stack.kafkaBrokers, Topic.TaskEvents)).toBe(before);
  });

  it("answers a retried create with the same Idempotency-Key with the same task, publishing nothing new", async () => {
    const key = randomUUID();
    const first = await call("alice", "POST", "/tasks", { title: "Once" }, { "idempotency-key": key });
    expect(first.status).toBe(201);
    const id = first.body!["id"] as string;
    await readUntil(Topic.TaskEvents, (rs) => eventsOf(rs, id).length >= 1);
    const before = await endOffsetTotal(stack.kafkaBrokers, Topic.TaskEvents);
    const again = await call("alice", "POST", "/tasks", { title: "Once" }, { "idempotency-key": key });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const different = await call("alice", "POST", "/tasks", { title: "Twice" }, { "idempotency-key": key });
    expect(different.status).toBe(422);
    await sleep(2_500);
    expect(await endOffsetTotal(stack.kafkaBrokers, Topic.TaskEvents)).toBe(before);
  });

  it("hides a user's task from everyone else: 404 on read, update, complete, delete and history", async () => {
    const { body } = await call("alice", "POST", "/tasks", { title: "Private" });
    const id = body!["id"] as string;
    expect((await call("mallory", "GET", `/tasks/${id}`)).status).toBe(404);
    expect((await call("mallory", "PATCH", `/tasks/${id}`, { title: "Mine now" })).status).toBe(404);
    expect((await call("mallory", "POST", `/tasks/${id}/complete`)).status).toBe(404);
    expect((await call("mallory", "DELETE", `/tasks/${id}`)).status).toBe(404);
    expect((await call("mallory", "GET", `/tasks/${id}/history`)).status).toBe(404);
    expect((await call("alice", "GET", `/tasks/${id}`)).body).toMatchObject({ id, title: "Private" });
    expect((await call(undefined, "GET", `/tasks/${id}`)).status).toBe(401);
  });

  it("publishes update, completion and deletion in order, and lists, filters and sorts the caller's tasks", async () => {
    const user = `lister-${randomUUID().slice(0, 6)}`;
    const a = (await call(user, "POST", "/tasks", { title: "Pay rent", priority: "high", tags: ["home"], dueAt: "2031-02-01T09:00:00Z" })).body!;
    const b = (await call(user, "POST", "/tasks", { title: "Call mum", priority: "low", tags: ["family"], dueAt: "2031-01-01T09:00:00Z" })).body!;
    expect((await call(user, "PATCH", `/tasks/${a["id"]}`, { description: "before the 3rd", progress: 50 })).status).toBe(200);
    expect((await call(user, "POST", `/tasks/${a["id"]}/complete`)).body).toMatchObject({ status: "completed" });
    expect((await call(user, "DELETE", `/tasks/${b["id"]}`)).status).toBe(204);
    expect((await call(user, "GET", `/tasks/${b["id"]}`)).status).toBe(404);

    const listed = (await call(user, "GET", "/tasks?sort=dueAt")).body!["tasks"] as { id: string }[];
    expect(listed.map((t) => t.id)).toEqual([a["id"]]);
    expect(((await call(user, "GET", "/tasks?q=RENT")).body!["tasks"] as unknown[]).length).toBe(1);
    expect(((await call(user, "GET", "/tasks?status=open")).body!["tasks"] as unknown[]).length).toBe(0);

    const records = await readUntil(Topic.TaskEvents, (rs) => eventsOf(rs, a["id"]).length >= 3 && eventsOf(rs, b["id"]).length >= 2);
    expect(eventsOf(records, a["id"]).map((e) => e.type)).toEqual([TaskCreated.type, TaskUpdated.type, TaskCompleted.type]);
    expect(eventsOf(records, a["id"])[1]!.data["changes"]).toMatchObject({ description: { to: "before the 3rd" }, progress: { to: 50 } });
    expect(eventsOf(records, b["id"]).map((e) => e.type)).toEqual([TaskCreated.type, TaskDeleted.type]);
    const updates = await readUntil(Topic.TaskUpdates, (rs) => eventsOf(rs, a["id"]).length >= 2);
    expect(eventsOf(updates, a["id"]).map((e) => e.type)).toEqual(["task.progress-changed.v1", "task.status-changed.v1"]);
  });

  it("publishes reminder.due when a reminder 3 s ahead comes due, not before", async () => {
    const remindAt = new Date(Date.now() + 3_000);
    const { body } = await call(
      "alice",
      "POST",
      "/tasks",
      { title: "Stretch", reminder: { remindAt: remindAt.toISOString() } },
      { "x-correlation-id": "stretch-request" },
    );
    const id = body!["id"] as string;
    const records = await readUntil(Topic.Reminders, (rs) => eventsOf(rs, id).some((e) => e.type === ReminderDue.type), 20_000);
    const arrived = Date.now();
    const due = eventsOf(records, id).filter((e) => e.type === ReminderDue.type);
    expect(due).toHaveLength(1);
    expect(due[0]!.data).toMatchObject({ taskId: id, userId: "alice", title: "Stretch", remindAt: remindAt.toISOString() });
    const scheduled = eventsOf(records, id).find((e) => e.type === ReminderScheduled.type)!;
    expect(due[0]).toMatchObject({ correlationid: "stretch-request", causationid: scheduled.id });
    expect(arrived).toBeGreaterThanOrEqual(remindAt.getTime());
    expect(arrived - remindAt.getTime()).toBeLessThan(10_000);
    expect(Date.parse((records.find((r) => (r.value as Envelope).id === due[0]!.id)!.value as { time: string }).time)).toBeGreaterThanOrEqual(
      remindAt.getTime(),
    );
  });
});

describe("task-api lists", () => {
  it("filters and sorts in the store (undated tasks last) and hands out the rest a page at a time", async () => {
    const user = `pager-${randomUUID().slice(0, 6)}`;
    const make = async (body: Record<string, unknown>) => (await call(user, "POST", "/tasks", body)).body!["id"] as string;
    const rent = await make({ title: "Pay rent", priority: "high", tags: ["home"], dueAt: "2031-03-01T00:00:00Z" });
    const walk = await make({ title: "Walk", description: "the DOG", priority: "low", dueAt: "2031-02-01T00:00:00Z" });
    const read = await make({ title: "Read", priority: "medium" });
    await call(user, "POST", `/tasks/${read}/complete`);
    const ids = async (query: string) => ((await call(user, "GET", `/tasks?${query}`)).body!["tasks"] as { id: string }[]).map((t) => t.id);
    expect(await ids("sort=dueAt")).toEqual([walk, rent, read]);
    expect(await ids("sort=priority")).toEqual([rent, read, walk]);
    expect(await ids("sort=priority&order=asc")).toEqual([walk, read, rent]);
    expect(await ids("q=dog")).toEqual([walk]);
    expect(await ids("tag=home")).toEqual([rent]);
    expect(await ids("status=completed")).toEqual([read]);

    const more = [];
    for (let i = 0; i < 4; i++) more.push(await make({ title: `page ${i}` }));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call(user, "GET", `/tasks?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      seen.push(...(page.body!["tasks"] as { id: string }[]).map((t) => t.id));
      cursor = page.body!["next"] as string | undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...more].reverse().concat([read, walk, rent])); // newest first
    const forged = await call(user, "GET", "/tasks?cursor=bm90LWEtY3Vyc29y");
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ issues: [expect.objectContaining({ field: "cursor" })] });
  });
});

describe("task-api reminders and limits", () => {
  it("cancels the reminder of a task completed before it is due: reminder.cancelled, and no reminder.due", async () => {
    const remindAt = new Date(Date.now() + 4_000).toISOString();
    const { body } = await call("alice", "POST", "/tasks", { title: "Never mind", reminder: { remindAt } });
    const id = body!["id"] as string;
    expect((await call("alice", "POST", `/tasks/${id}/complete`)).status).toBe(200);
    const records = await readUntil(Topic.Reminders, (rs) => eventsOf(rs, id).length >= 2);
    expect(eventsOf(records, id).map((e) => [e.type, e.data["reason"]])).toEqual([
      [ReminderScheduled.type, undefined],
      [ReminderCancelled.type, "completed"],
    ]);
    await sleep(Date.parse(remindAt) - Date.now() + 3_000);
    const later = await readTopicToEnd(stack.kafkaBrokers, Topic.Reminders);
    expect(eventsOf(later, id).map((e) => e.type)).not.toContain(ReminderDue.type);
  });

  it("still sends a reminder whose time had already passed when the write was handled, at once", async () => {
    const remindAt = new Date(Date.now() - 60_000).toISOString();
    const { body } = await call("alice", "POST", "/tasks", { title: "Overdue", reminder: { remindAt } });
    const id = body!["id"] as string;
    const records = await readUntil(Topic.Reminders, (rs) => eventsOf(rs, id).some((e) => e.type === ReminderDue.type), 20_000);
    expect(eventsOf(records, id).map((e) => e.type)).toEqual([ReminderScheduled.type, ReminderDue.type]);
  });

  it("refuses a body over the limit with 413, and serves its OpenAPI document", async () => {
    const res = await call("alice", "POST", "/tasks", { title: "big", description: "x".repeat(70 * 1024) });
    expect(res.status).toBe(413);
    const openapi = await call(undefined, "GET", "/openapi.json");
    expect(openapi.status).toBe(200);
    expect(Object.keys(openapi.body!["paths"])).toEqual(expect.arrayContaining(["/tasks", "/tasks/{id}", "/tasks/{id}/complete", "/tasks/{id}/history"]));
    expect(openapi.body!["components"]["schemas"]["CreateTask"]["properties"]).toHaveProperty("title");
  });
});

describe("durable publishing", () => {
  it("keeps every acknowledged write while daprd is down and publishes them, in order per task, once, after it is back", async () => {
    const user = `offline-${randomUUID().slice(0, 6)}`;
    await api.sidecar.stop();

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await call(user, "POST", "/tasks", { title: `offline ${i}` });
      expect(created.status).toBe(201);
      ids.push(created.body!["id"] as string);
      expect((await call(user, "PATCH", `/tasks/${created.body!["id"]}`, { priority: "high" })).status).toBe(200);
    }
    await sleep(3_000); // the relay tries and fails meanwhile

    await api.restartSidecar();
    await readUntil(Topic.TaskEvents, (rs) => ids.every((id) => eventsOf(rs, id).length >= 2), 60_000);
    await sleep(3_000); // room for duplicates to show up, if there were any
    const after = await readTopicToEnd(stack.kafkaBrokers, Topic.TaskEvents);
    for (const id of ids) {
      const events = eventsOf(after, id);
      expect(events.map((e) => e.type)).toEqual([TaskCreated.type, TaskUpdated.type]);
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    }
  });
});
