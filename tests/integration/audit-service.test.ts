/**
 * audit-service on the real stack, next to task-api: every event of a task
 * becomes one entry in the audit container, read back in order through
 * GET /tasks/:id/history; redeliveries add nothing; a malformed event is
 * dead-lettered while the task's later events are still recorded; bursts of
 * writes drain completely, live and from a backlog.
 */
import { randomUUID } from "node:crypto";
import { Agent } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { CosmosClient, type Container } from "@azure/cosmos";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { envelope, type CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { DEAD_LETTER_TYPE, DeadLetterRecord } from "../../shared/catalog/dead-letter.ts";
import {
  ReminderCancelled,
  ReminderScheduled,
  ReminderSent,
  TaskCompleted,
  TaskCreated,
  TaskProgressChanged,
  TaskStatusChanged,
  TaskUpdated,
} from "../../shared/catalog/events.ts";
import { deadLetterTopicOf, Service, Topic } from "../../shared/catalog/names.ts";
import type { TaskSnapshot } from "../../shared/catalog/task.ts";
import { AUDIT_CONTAINER, AuditEntry } from "../../shared/catalog/audit.ts";
import { defineFunction } from "../../shared/host/define.ts";
import { runWithSidecar, type FunctionUnderTest } from "../../tools/stack/function-under-test.ts";
import { readTopicUntil } from "../../tools/stack/topic-reader.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { waitFor } from "../../tools/stack/wait.ts";

const stack = inject("stack");
const secret = randomUUID() + randomUUID();
const run = randomUUID().slice(0, 8);
const producerName = `audit-test-producer-${run}`;

let api: RunningFunction;
let audit: RunningFunction;
let producer: FunctionUnderTest;
let entries: Container;
let base: string;
const tokens = new Map<string, string>();

const call = async (user: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  if (!tokens.has(user)) tokens.set(user, await mintToken(secret, user));
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${tokens.get(user)}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
};

/** The entries of one task straight from the audit container. */
const entriesOf = async (taskId: string): Promise<AuditEntry[]> => {
  const { resources } = await entries.items
    .query<AuditEntry>({ query: "SELECT * FROM c WHERE c.taskId = @taskId", parameters: [{ name: "@taskId", value: taskId }] }, { partitionKey: taskId })
    .fetchAll();
  return resources;
};

const snapshot = (taskId: string, userId: string, fields: Partial<TaskSnapshot> = {}): TaskSnapshot => {
  const at = new Date().toISOString();
  return { id: taskId, userId, title: "Published by hand", priority: "medium", tags: [], status: "open", createdAt: at, updatedAt: at, ...fields };
};

const publish = (topic: string, event: CloudEventEnvelope) => producer.publisher.publish(topic, event);

beforeAll(async () => {
  // One at a time: each picks free ports for itself and its sidecar, which a neighbour starting
  // alongside could take first.
  api = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret, LOG_LEVEL: "warn" } });
  audit = await startFunction(stack, Service.AuditService, { env: { LOG_LEVEL: "info" } });
  producer = await runWithSidecar(stack, defineFunction({ name: producerName, consumers: [] }));
  base = `http://127.0.0.1:${api.publicPort}`;
  const client = new CosmosClient({
    endpoint: stack.cosmosEndpoint,
    key: stack.cosmosKey,
    // The local server's certificate is self-signed; only this client skips verification.
    agent: new Agent({ rejectUnauthorized: false, keepAlive: true }),
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const { database } = await client.databases.createIfNotExists({ id: "taskapp" });
  ({ container: entries } = await database.containers.createIfNotExists(AUDIT_CONTAINER));
});

afterAll(async () => {
  await Promise.all([api?.stop(), audit?.stop(), producer?.stop()]);
});

describe("audit trail", () => {
  it("records every event of a task's writes, and task-api's history returns them in order with their correlation ids", async () => {
    const user = `auditor-${run}`;
    const remindAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await call(
      user,
      "POST",
      "/tasks",
      { title: "Write report", priority: "high", reminder: { remindAt } },
      { "x-correlation-id": `create-${run}` },
    );
    expect(created.status).toBe(201);
    const id = created.body!["id"] as string;
    expect((await call(user, "PATCH", `/tasks/${id}`, { status: "in_progress", progress: 50 }, { "x-correlation-id": `start-${run}` })).status).toBe(200);
    expect((await call(user, "POST", `/tasks/${id}/complete`, undefined, { "x-correlation-id": `finish-${run}` })).status).toBe(200);

    const history = await waitFor("eight history entries", async () => {
      const res = await call(user, "GET", `/tasks/${id}/history`);
      const list = (res.body?.["entries"] ?? []) as unknown[];
      return list.length >= 8 ? list.map((e) => AuditEntry.parse(e)) : undefined;
    });
    expect(history.map((e) => [e.type, e.correlationId])).toEqual([
      [TaskCreated.type, `create-${run}`],
      [ReminderScheduled.type, `create-${run}`],
      [TaskUpdated.type, `start-${run}`],
      [TaskStatusChanged.type, `start-${run}`],
      [TaskProgressChanged.type, `start-${run}`],
      [TaskCompleted.type, `finish-${run}`],
      [TaskStatusChanged.type, `finish-${run}`],
      [ReminderCancelled.type, `finish-${run}`],
    ]);
    for (const entry of history) {
      expect(entry).toMatchObject({ taskId: id, userId: user, source: Service.TaskApi });
      expect(entry.causationId).toBeUndefined();
    }
    expect(history.map((e) => e.topic)).toEqual([
      Topic.TaskEvents,
      Topic.Reminders,
      Topic.TaskEvents,
      Topic.TaskUpdates,
      Topic.TaskUpdates,
      Topic.TaskEvents,
      Topic.TaskUpdates,
      Topic.Reminders,
    ]);
    expect(history.map((e) => e.change)).toEqual([
      { title: "Write report", status: "open", priority: "high", remindAt },
      { remindAt },
      { status: { from: "open", to: "in_progress" }, progress: { to: 50 } },
      { from: "open", to: "in_progress" },
      { progress: 50 },
      { status: "completed", completedAt: expect.any(String) },
      { from: "in_progress", to: "completed" },
      { remindAt, reason: "completed" },
    ]);
    // Each write stamped its events with one time and their place in the write.
    expect(history.map((e) => e.writeSeq)).toEqual([0, 1, 0, 1, 2, 0, 1, 2]);
    expect(new Set(history.slice(0, 2).map((e) => e.time)).size).toBe(1);
    expect(new Set(history.slice(2, 5).map((e) => e.time)).size).toBe(1);
    expect(new Set(history.slice(5).map((e) => e.time)).size).toBe(1);
    const times = history.map((e) => e.time);
    expect(times).toEqual([...times].sort());
    expect(history.every((e) => e.recordedAt >= e.time)).toBe(true);
  });

  it("orders the events of one write by the producer's writeseq, whatever their types", async () => {
    const user = `sequencer-${run}`;
    const created = await call(user, "POST", "/tasks", { title: "Sequenced" });
    expect(created.status).toBe(201);
    const id = created.body!["id"] as string;
    // One write of another producer, emitted in an order no type ranking would give: the live
    // update last, the reminder first; published in reverse, on two topics.
    const at = new Date(Date.now() + 1_000).toISOString();
    const write = [
      [
        ReminderSent.topic,
        envelope({
          event: ReminderSent,
          data: { taskId: id, userId: user, remindAt: at, channels: ["log"], at },
          subject: id,
          source: producerName,
          time: at,
          writeSeq: 0,
        }),
      ],
      [
        TaskCompleted.topic,
        envelope({
          event: TaskCompleted,
          data: { taskId: id, userId: user, task: snapshot(id, user, { status: "completed", completedAt: at }) },
          subject: id,
          source: producerName,
          time: at,
          writeSeq: 1,
        }),
      ],
      [
        TaskProgressChanged.topic,
        envelope({
          event: TaskProgressChanged,
          data: { taskId: id, userId: user, progress: 100, at },
          subject: id,
          source: producerName,
          time: at,
          writeSeq: 2,
        }),
      ],
    ] as const;
    for (const [topic, event] of [...write].reverse()) await publish(topic, event);

    const history = await waitFor("four history entries", async () => {
      const list = ((await call(user, "GET", `/tasks/${id}/history`)).body?.["entries"] ?? []) as unknown[];
      return list.length >= 4 ? list.map((e) => AuditEntry.parse(e)) : undefined;
    });
    expect(history.map((e) => [e.type, e.writeSeq])).toEqual([
      [TaskCreated.type, 0],
      [ReminderSent.type, 0],
      [TaskCompleted.type, 1],
      [TaskProgressChanged.type, 2],
    ]);
    // A page at a time (one entry each), the write stays in order across page boundaries.
    const paged: [string, number][] = [];
    let cursor: string | undefined;
    do {
      const page = (await call(user, "GET", `/tasks/${id}/history?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)).body!;
      paged.push(...(page["entries"] as unknown[]).map((e) => AuditEntry.parse(e)).map((e): [string, number] => [e.type, e.writeSeq]));
      cursor = page["next"] as string | undefined;
    } while (cursor);
    expect(paged).toEqual(history.map((e) => [e.type, e.writeSeq]));
  });

  it("keeps one entry when the same CloudEvent is published twice", async () => {
    const taskId = `dup-${run}`;
    const userId = `dup-user-${run}`;
    const once = envelope({ event: TaskCreated, data: { taskId, userId, task: snapshot(taskId, userId) }, subject: taskId, source: producerName });
    await publish(TaskCreated.topic, once);
    await publish(TaskCreated.topic, once);
    // Same task, same partition, published after both copies: once it is recorded, so have they been.
    const later = envelope({
      event: TaskCompleted,
      data: { taskId, userId, task: snapshot(taskId, userId, { status: "completed", completedAt: new Date().toISOString() }) },
      subject: taskId,
      source: producerName,
    });
    await publish(TaskCompleted.topic, later);
    await waitFor("the later event's entry", async () => ((await entriesOf(taskId)).some((e) => e.id === later.id) ? true : undefined));
    await sleep(1_000); // room for a late copy to show up, if there were one

    const recorded = await entriesOf(taskId);
    expect(recorded.map((e) => e.id).sort()).toEqual([once.id, later.id].sort());
    expect(recorded.filter((e) => e.type === TaskCreated.type)).toHaveLength(1);
    expect(recorded.find((e) => e.id === once.id)).toMatchObject({ type: TaskCreated.type, source: producerName, correlationId: once.id });
  });

  it("dead-letters an event whose data breaks its schema, naming the field, and records the task's next event", async () => {
    const taskId = `bad-${run}`;
    const userId = `bad-user-${run}`;
    const bad: CloudEventEnvelope = {
      specversion: "1.0",
      id: randomUUID(),
      source: producerName,
      type: TaskCreated.type,
      subject: taskId,
      time: new Date().toISOString(),
      datacontenttype: "application/json",
      data: { taskId, userId }, // no task
    };
    await publish(Topic.TaskEvents, bad);
    const next = envelope({
      event: TaskUpdated,
      data: { taskId, userId, task: snapshot(taskId, userId, { title: "Fixed" }), changes: { title: { from: "Broken", to: "Fixed" } } },
      subject: taskId,
      source: producerName,
    });
    await publish(TaskUpdated.topic, next);

    const records = await readTopicUntil(stack.kafkaBrokers, deadLetterTopicOf(Service.AuditService), (rs) =>
      rs.some((r) => (r.value as { data?: { event?: { id?: string } } }).data?.event?.id === bad.id),
    );
    const dead = records.find((r) => (r.value as { data?: { event?: { id?: string } } }).data?.event?.id === bad.id)!;
    expect(dead.key).toBe(taskId);
    expect((dead.value as { type: string }).type).toBe(DEAD_LETTER_TYPE);
    const record = DeadLetterRecord.parse((dead.value as { data: unknown }).data);
    expect(record).toMatchObject({ service: Service.AuditService, topic: Topic.TaskEvents, kind: "invalid-data", attempts: 1 });
    expect(record.reason).toMatch(/^task: /);

    const recorded = await waitFor("the next event's entry", async () => {
      const list = await entriesOf(taskId);
      return list.some((e) => e.id === next.id) ? list : undefined;
    });
    expect(recorded.map((e) => [e.id, e.type])).toEqual([[next.id, TaskUpdated.type]]);
    expect(recorded[0]!.change).toEqual({ title: { from: "Broken", to: "Fixed" } });
  });
});

describe("bursts of writes", () => {
  const WRITES = 1_000;
  const USERS = 20;
  const IN_FLIGHT = 20;

  type Row = { id: string; taskId: string; type: string; recordedAt: string };
  const rowsOf = async (prefix: string): Promise<Row[]> => {
    const { resources } = await entries.items
      .query<Row>({
        query: "SELECT c.id, c.taskId, c.type, c.recordedAt FROM c WHERE STARTSWITH(c.userId, @prefix)",
        parameters: [{ name: "@prefix", value: prefix }],
      })
      .fetchAll();
    return resources;
  };

  /** WRITES creates over USERS users, IN_FLIGHT at a time; the ids and when the last 2xx came. */
  const burst = async (prefix: string) => {
    const users = Array.from({ length: USERS }, (_, i) => `${prefix}${i}`);
    for (const user of users) tokens.set(user, await mintToken(secret, user));
    const ids: string[] = [];
    let next = 0;
    let lastOk = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < WRITES) {
          const n = next++;
          const res = await call(users[n % USERS]!, "POST", "/tasks", { title: `burst ${n}`, tags: ["burst"] });
          expect(res.status).toBe(201);
          ids.push(res.body!["id"] as string);
          lastOk = Date.now();
        }
      }),
    );
    return { ids, lastOk, writeSeconds: (lastOk - started) / 1000 };
  };

  /** Waits for an entry per create, then checks each is there exactly once. */
  const expectOneEntryPerCreate = async (prefix: string, ids: string[]): Promise<Row[]> => {
    await waitFor(`${WRITES} audit entries`, async () => ((await rowsOf(prefix)).length >= WRITES ? true : undefined), 240_000, 500);
    await sleep(2_000); // room for duplicates to show up, if there were any
    const rows = await rowsOf(prefix);
    expect(rows).toHaveLength(WRITES);
    expect(new Set(rows.map((r) => r.id)).size).toBe(WRITES);
    expect(new Set(rows.map((r) => `${r.taskId}/${r.type}`)).size).toBe(WRITES);
    expect(rows.every((r) => r.type === TaskCreated.type)).toBe(true);
    expect(new Set(rows.map((r) => r.taskId))).toEqual(new Set(ids));
    return rows;
  };

  const span = (rows: Row[]) => {
    const recorded = rows.map((r) => Date.parse(r.recordedAt));
    return { first: Math.min(...recorded), last: Math.max(...recorded) };
  };

  it(`records every one of ${WRITES} creates once, keeping up with the writes`, async () => {
    const prefix = `burst-${run}-`;
    const { ids, lastOk, writeSeconds } = await burst(prefix);
    const { first, last } = span(await expectOneEntryPerCreate(prefix, ids));
    console.log(
      `[audit burst] ${WRITES} creates by ${USERS} users, ${IN_FLIGHT} in flight: written in ${writeSeconds.toFixed(1)} s ` +
        `(${(WRITES / writeSeconds).toFixed(0)}/s); entries recorded over ${((last - first) / 1000).toFixed(1)} s; ` +
        `drain after the last 2xx: ${last - lastOk} ms`,
    );
  }, 300_000);

  it(`catches up on a backlog of ${WRITES} events written while its sidecar was down`, async () => {
    const prefix = `backlog-${run}-`;
    await audit.sidecar.stop();
    const { ids } = await burst(prefix);
    expect(await rowsOf(prefix)).toHaveLength(0);

    const restarted = Date.now();
    await audit.restartSidecar();
    const { first, last } = span(await expectOneEntryPerCreate(prefix, ids));
    console.log(
      `[audit backlog] ${WRITES} events: first entry ${first - restarted} ms after the sidecar started, ` +
        `all recorded ${((last - first) / 1000).toFixed(1)} s later (${(WRITES / ((last - first) / 1000)).toFixed(0)} events/s)`,
    );
  }, 300_000);
});
