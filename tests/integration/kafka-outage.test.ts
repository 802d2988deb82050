/**
 * A write acknowledged while Kafka is down is not lost: task-api keeps the
 * events in the task's outbox and publishes them, in order and once, when the
 * broker is back. This file runs its own broker so it can stop it without
 * disturbing the other tests.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import type { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { TaskCompleted, TaskCreated, TaskUpdated } from "../../shared/catalog/events.ts";
import { allTopics, Service, Topic } from "../../shared/catalog/names.ts";
import { readTopicToEnd, readTopicUntil } from "../../tools/stack/topic-reader.ts";
import { renderDaprResources } from "../../tools/stack/dapr.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { ensureTopics, startKafka, type KafkaOptions } from "../../tools/stack/kafka.ts";
import { freePort, type ManagedProcess } from "../../tools/stack/process.ts";
import { ensureKafka } from "../../tools/stack/provision.ts";

const shared = inject("stack");
const secret = randomUUID() + randomUUID();
let kafkaOptions: KafkaOptions;
let kafka: ManagedProcess;
let brokers: string;
let api: RunningFunction;

beforeAll(async () => {
  const { java, classpath } = await ensureKafka();
  const dir = join(shared.dataDir, `outage-${randomUUID().slice(0, 8)}`);
  kafkaOptions = {
    java,
    classpath,
    dir: join(dir, "kafka"),
    logFile: join(shared.logDir, "kafka-outage.log"),
    pidDir: shared.pidDir,
    port: await freePort(),
    controllerPort: await freePort(),
  };
  ({ brokers, process: kafka } = await startKafka(kafkaOptions));
  await ensureTopics(brokers, allTopics());
  const resources = renderDaprResources(join(dir, "dapr"), {
    KAFKA_BROKERS: brokers,
    STATE_DB: join(dir, "state.db"),
    NAME_RESOLUTION_DB: join(dir, "name-resolution.db"),
  });
  api = await startFunction({ ...shared, kafkaBrokers: brokers, ...resources }, Service.TaskApi, {
    env: { AUTH_JWT_SECRET: secret },
  });
}, 180_000);

afterAll(async () => {
  await api?.stop();
  await kafka?.stop();
});

describe("Kafka outage", () => {
  it("publishes every write acknowledged while the broker was down, in order per task, none twice", async () => {
    const token = await mintToken(secret, "olga");
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${api.publicPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as { id: string } };
    };

    await kafka.stop();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const created = await call("POST", "/tasks", { title: `written in the dark ${i}` });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
      expect((await call("PATCH", `/tasks/${created.body.id}`, { priority: "high" })).status).toBe(200);
      expect((await call("POST", `/tasks/${created.body.id}/complete`)).status).toBe(200);
    }
    await sleep(3_000); // relays fail meanwhile

    ({ process: kafka } = await startKafka(kafkaOptions)); // same log dirs: the topics are still there
    const byTask = (records: { value: unknown }[], id: string) => records.map((r) => r.value as CloudEventEnvelope).filter((e) => e.subject === id);
    await readTopicUntil(brokers, Topic.TaskEvents, (rs) => ids.every((id) => byTask(rs, id).length >= 3), 120_000);
    await sleep(4_000);
    const settled = await readTopicToEnd(brokers, Topic.TaskEvents);
    for (const id of ids) {
      const events = byTask(settled, id);
      expect(events.map((e) => e.type)).toEqual([TaskCreated.type, TaskUpdated.type, TaskCompleted.type]);
      expect(new Set(events.map((e) => e.id)).size).toBe(3);
    }
  }, 240_000);
});
