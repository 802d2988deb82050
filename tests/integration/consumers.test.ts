/**
 * recurring-task-service and notification-service on the real stack, next to
 * task-api: effects happen exactly once whatever Kafka and Dapr redeliver,
 * consumers survive SIGKILL and scale-to-zero, and poison events are
 * dead-lettered while their partition keeps flowing.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import type { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { DeadLetterRecord } from "../../shared/catalog/dead-letter.ts";
import { ReminderDue, ReminderScheduled, ReminderSent, TaskCompleted } from "../../shared/catalog/events.ts";
import { deadLetterTopicOf, Service, Topic } from "../../shared/catalog/names.ts";
import { defineFunction } from "../../shared/host/define.ts";
import { runWithSidecar, type FunctionUnderTest } from "../../tools/stack/function-under-test.ts";
import { readTopicUntil, type TopicRecord } from "../../tools/stack/topic-reader.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { waitUntil } from "../../tools/stack/process.ts";

const stack = inject("stack");
const secret = randomUUID() + randomUUID();

// ---------------------------------------------------------------- a webhook receiver

type Mode = { kind: "ok" } | { kind: "fail" } | { kind: "hold-first"; ms: number; received?: () => void };

/**
 * Counts reminders per task that it accepted: it answers 2xx and commits only
 * when the sender is still there to get the answer (an aborted request is not
 * a delivery).
 */
class Webhook {
  readonly accepted = new Map<string, number>();
  readonly modes = new Map<string, Mode>();
  private app: FastifyInstance = Fastify();
  url = "";

  async start() {
    this.app.post("/hook", async (request, reply) => {
      const { taskId } = request.body as { taskId: string };
      const mode = this.modes.get(taskId) ?? { kind: "ok" };
      if (mode.kind === "fail") return reply.code(500).send({ error: "receiver broken for this task" });
      if (mode.kind === "hold-first") {
        this.modes.delete(taskId);
        mode.received?.();
        await sleep(mode.ms);
        if (request.raw.socket.destroyed) return reply; // the sender died: nothing committed
      }
      this.accepted.set(taskId, (this.accepted.get(taskId) ?? 0) + 1);
      return reply.code(204).send();
    });
    await this.app.listen({ host: "127.0.0.1", port: 0 });
    const address = this.app.server.address();
    this.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;
  }

  count(taskId: string) {
    return this.accepted.get(taskId) ?? 0;
  }

  close() {
    return this.app.close();
  }
}

// ---------------------------------------------------------------- the system under test

const webhook = new Webhook();
let taskApi: RunningFunction;
let recurring: RunningFunction;
let notifications: RunningFunction;
let producer: FunctionUnderTest;
const tokens = new Map<string, string>();

const startNotifications = () =>
  startFunction(stack, Service.NotificationService, {
    env: { NOTIFY_WEBHOOK_URL: webhook.url, CLAIM_LEASE_MS: "5000", LOG_LEVEL: "info" },
  });

const call = async (user: string, method: string, path: string, body?: unknown) => {
  if (!tokens.has(user)) tokens.set(user, await mintToken(secret, user));
  const res = await fetch(`http://127.0.0.1:${taskApi.publicPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${tokens.get(user)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
};

const createTask = async (user: string, body: Record<string, unknown>) => {
  const res = await call(user, "POST", "/tasks", body);
  expect(res.status).toBe(201);
  return res.body as { id: string; remindAt?: string };
};

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const eventsFor = (records: TopicRecord[], taskId: string, type: string) =>
  records.filter((r) => (r.value as CloudEventEnvelope).subject === taskId && (r.value as CloudEventEnvelope).type === type);
const until = (what: string, check: () => boolean, timeoutMs = 30_000) => waitUntil(what, async () => check(), { timeoutMs, intervalMs: 100 });

beforeAll(async () => {
  await webhook.start();
  taskApi = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret } });
  [recurring, notifications, producer] = await Promise.all([
    startFunction(stack, Service.RecurringTaskService, { env: { LOG_LEVEL: "info" } }),
    startNotifications(),
    runWithSidecar(stack, defineFunction({ name: `replayer-${randomUUID().slice(0, 8)}`, consumers: [] })),
  ]);
});

afterAll(async () => {
  await Promise.all([recurring?.stop(), notifications?.stop(), producer?.stop()]);
  await taskApi?.stop();
  await webhook.close();
});

// ---------------------------------------------------------------- recurring tasks

describe("recurring-task-service", () => {
  const seriesOf = async (user: string, seriesId: string) =>
    ((await call(user, "GET", "/tasks?sort=dueAt")).body["tasks"] as { seriesId?: string; occurrence?: number; dueAt: string; status: string }[]).filter(
      (t) => t.seriesId === seriesId,
    );

  it("creates exactly one next task a day later, also when the completed event arrives three times", async () => {
    const user = `rec-${randomUUID().slice(0, 6)}`;
    const dueAt = "2031-05-10T07:30:00.000Z";
    const first = await createTask(user, { title: "Water plants", dueAt, recurrence: { frequency: "daily" } });
    expect((await call(user, "POST", `/tasks/${first.id}/complete`)).status).toBe(200);

    await waitUntil("the next occurrence", async () => (await seriesOf(user, first.id)).length >= 2, { timeoutMs: 30_000 });
    const completed = await readTopicUntil(stack.kafkaBrokers, Topic.TaskEvents, (rs) => eventsFor(rs, first.id, TaskCompleted.type).length > 0);
    const event = eventsFor(completed, first.id, TaskCompleted.type)[0]!.value as CloudEventEnvelope;
    for (let i = 0; i < 2; i++) await producer.publisher.publish(Topic.TaskEvents, event); // same CloudEvent id: 3 in all
    await sleep(4_000);

    const series = await seriesOf(user, first.id);
    expect(series.map((t) => [t.occurrence, t.dueAt, t.status])).toEqual([
      [1, dueAt, "completed"],
      [2, "2031-05-11T07:30:00.000Z", "open"],
    ]);
  });

  it("creates nothing after the last occurrence", async () => {
    const user = `rec-${randomUUID().slice(0, 6)}`;
    const only = await createTask(user, { title: "Once only", dueAt: "2031-05-10T07:30:00.000Z", recurrence: { frequency: "weekly", count: 1 } });
    await call(user, "POST", `/tasks/${only.id}/complete`);
    await waitUntil(
      "recurring-task-service to see the last occurrence",
      async () => readFileSync(recurring.app.logFile, "utf8").includes(`"seriesId":"${only.id}","occurrence":1,"msg":"series ended`),
      { timeoutMs: 30_000 },
    );
    expect(await seriesOf(user, only.id)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- reminders

describe("notification-service", () => {
  it("POSTs a due reminder to the webhook exactly once, also when reminder.due is duplicated, and reports it sent", async () => {
    const task = await createTask("nina", { title: "Call the dentist", reminder: { remindAt: inSeconds(2) } });
    await until("the webhook POST", () => webhook.count(task.id) === 1);
    const reminders = await readTopicUntil(stack.kafkaBrokers, Topic.Reminders, (rs) => eventsFor(rs, task.id, ReminderDue.type).length > 0);
    const due = eventsFor(reminders, task.id, ReminderDue.type)[0]!.value as CloudEventEnvelope;
    await producer.publisher.publish(Topic.Reminders, due);
    await producer.publisher.publish(Topic.Reminders, due);
    const sent = await readTopicUntil(stack.kafkaBrokers, Topic.TaskUpdates, (rs) => eventsFor(rs, task.id, ReminderSent.type).length > 0);
    expect(eventsFor(sent, task.id, ReminderSent.type)[0]!.value).toMatchObject({ causationid: due.id, data: { channels: ["webhook", "log"] } });
    await sleep(3_000);
    expect(webhook.count(task.id)).toBe(1);
  });

  it("sends exactly once when killed (SIGKILL) while sending, then restarted", async () => {
    const remindAt = inSeconds(2);
    let received!: () => void;
    const inFlight = new Promise<void>((resolve) => (received = resolve));
    const task = await createTask("nina", { title: "Take the cake out", reminder: { remindAt } });
    webhook.modes.set(task.id, { kind: "hold-first", ms: 3_000, received });
    await inFlight;
    await notifications.app.stop("SIGKILL");
    await notifications.restartApp();
    await until("the reminder after the restart", () => webhook.count(task.id) === 1, 60_000);
    await sleep(3_000);
    expect(webhook.count(task.id)).toBe(1);
  });

  it("catches up after being scaled to zero by hand, and skips reminders of tasks completed meanwhile", async () => {
    const earlier = [...webhook.accepted.keys()];
    await notifications.stop(); // app and sidecar: nothing consumes `reminders` now
    const waiting = await Promise.all([1, 2, 3].map((i) => createTask("zoe", { title: `Reminder ${i}`, reminder: { remindAt: inSeconds(1) } })));
    const cancelled = await createTask("zoe", { title: "Done before it was sent", reminder: { remindAt: inSeconds(1) } });
    const ids = [...waiting.map((t) => t.id), cancelled.id];
    await readTopicUntil(stack.kafkaBrokers, Topic.Reminders, (rs) => ids.every((id) => eventsFor(rs, id, ReminderDue.type).length > 0));
    expect((await call("zoe", "POST", `/tasks/${cancelled.id}/complete`)).status).toBe(200);

    notifications = await startNotifications(); // resumes from its committed offset
    await until("every waiting reminder", () => waiting.every((t) => webhook.count(t.id) === 1));
    await sleep(3_000);
    expect(waiting.map((t) => webhook.count(t.id))).toEqual([1, 1, 1]);
    expect(webhook.count(cancelled.id)).toBe(0);
    expect(earlier.map((id) => webhook.count(id))).toEqual(earlier.map(() => 1)); // nothing repeated
  });

  it("dead-letters a reminder the webhook keeps failing, after bounded retries, while its partition flows on", async () => {
    const tasks = await Promise.all(
      Array.from({ length: 12 }, (_, i) => createTask("pat", { title: `Poison test ${i}`, reminder: { remindAt: inSeconds(4 + i * 0.1) } })),
    );
    const scheduled = await readTopicUntil(stack.kafkaBrokers, Topic.Reminders, (rs) =>
      tasks.every((t) => eventsFor(rs, t.id, ReminderScheduled.type).length > 0),
    );
    const partitionOf = (id: string) => eventsFor(scheduled, id, ReminderScheduled.type)[0]!.partition;
    // 12 tasks over 6 partitions: some partition has two or more; its first-due task is the poison.
    const shared = tasks.filter((t) => tasks.filter((u) => partitionOf(u.id) === partitionOf(t.id)).length >= 2);
    const poison = shared[0]!;
    const neighbours = tasks.filter((t) => t !== poison && partitionOf(t.id) === partitionOf(poison.id));
    webhook.modes.set(poison.id, { kind: "fail" });

    await until("every other reminder", () => tasks.filter((t) => t !== poison).every((t) => webhook.count(t.id) === 1), 60_000);
    const dead = await readTopicUntil(stack.kafkaBrokers, deadLetterTopicOf(Service.NotificationService), (rs) =>
      rs.some((r) => (r.value as CloudEventEnvelope).subject === poison.id),
    );
    const entry = dead.find((r) => (r.value as CloudEventEnvelope).subject === poison.id)!.value as CloudEventEnvelope;
    const record = DeadLetterRecord.parse(entry.data);
    expect(record).toMatchObject({ service: Service.NotificationService, topic: Topic.Reminders, kind: "retries-exhausted", attempts: 8 });
    expect(record.reason).toContain("HTTP 500");
    expect(webhook.count(poison.id)).toBe(0);
    expect(neighbours.length).toBeGreaterThan(0);
    expect(neighbours.map((t) => webhook.count(t.id))).toEqual(neighbours.map(() => 1));
  });
});
