/**
 * lag-dashboard's dead letters: both record shapes arrive through the host's raw subscription and
 * are counted; depth is what lies beyond the acknowledged offsets, per dead-letter topic, on /metrics.
 * The Kafka reader is an in-memory fake of the offsets; the app is the real one, driven by inject.
 */
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { lagDashboard } from "../../functions/lag-dashboard/app.ts";
import { LagMonitor } from "../../functions/lag-dashboard/monitor.ts";
import { DEAD_LETTER_TYPE } from "../../shared/catalog/dead-letter.ts";
import { DEAD_LETTER_OWNERS, DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopicOf, Service, Topic } from "../../shared/catalog/names.ts";
import { buildApp } from "../../shared/host/app.ts";
import { rawRoute } from "../../shared/host/raw-subscription.ts";
import type { GroupSnapshot, KafkaReader } from "../../shared/kafka.ts";
import { createLogger } from "../../shared/logger.ts";

const TOKEN = "a".repeat(32);

/** Offsets as Kafka would report them: every dead-letter topic one partition, [start, end), the bookmark at `acked`. */
const fakeReader = (topics: Record<string, { start: number; end: number; acked?: number }>): KafkaReader =>
  ({
    async groups(groups: { group: string; topics: string[] }[]): Promise<GroupSnapshot[]> {
      return groups.map(({ group, topics: names }) => ({
        group,
        members: 0,
        state: "Empty",
        topics: new Map(
          names.map((name) => {
            const t = topics[name] ?? { start: 0, end: 0 };
            const committed = group === DEAD_LETTERS_ACKNOWLEDGED ? t.acked : undefined;
            return [name, [{ partition: 0, logStart: t.start, logEnd: t.end, committed }]];
          }),
        ),
      }));
    },
  }) as unknown as KafkaReader;

const original = { specversion: "1.0", id: "evt-1", source: Service.TaskApi, type: "task.created.v1", subject: "task-1", topic: Topic.TaskEvents, data: {} };
const hostRecord = {
  specversion: "1.0",
  id: "dlq-1",
  source: Service.AuditService,
  type: DEAD_LETTER_TYPE,
  data: {
    service: Service.AuditService,
    topic: Topic.TaskEvents,
    kind: "permanent",
    reason: "unknown owner",
    attempts: 1,
    deadLetteredAt: "2026-11-30T03:00:00.000Z",
    event: { ...original, id: "evt-2" },
  },
};

const setUp = async (offsets: Parameters<typeof fakeReader>[0]) => {
  const monitor = new LagMonitor(fakeReader(offsets), [], createLogger(Service.LagDashboard, "silent"));
  const registry = new Registry();
  const fn = lagDashboard.build({ monitor, registry });
  const app = await buildApp(fn, {
    publisher: { publish: async () => undefined },
    once: async () => false,
    log: createLogger(Service.LagDashboard, "silent"),
    maxDeliveryAttempts: 1,
    appApiToken: TOKEN,
  });
  const deliver = (topic: string, bytes: string, offset: string) =>
    app.inject({
      method: "POST",
      url: rawRoute(topic),
      headers: { "dapr-api-token": TOKEN, "content-type": "application/cloudevents+json", __offset: offset },
      payload: JSON.stringify({ data_base64: Buffer.from(bytes).toString("base64") }),
    });
  return { monitor, registry, app, deliver };
};

describe("lag-dashboard's dead letters", () => {
  it("counts the host's records and the originals Dapr forwards, a redelivery once", async () => {
    const { monitor, app, deliver } = await setUp({});
    const topic = deadLetterTopicOf(Service.AuditService);
    for (const [bytes, offset] of [
      [JSON.stringify(original), "0"],
      [JSON.stringify(hostRecord), "1"],
      [JSON.stringify(original), "0"],
      ["not json", "2"],
    ] as const) {
      expect((await deliver(topic, bytes, offset)).json()).toEqual({ status: "SUCCESS" });
    }
    monitor.scalers = [];
    await monitor.sample();
    // No ScaledObjects in this fake, so read the monitor's record of the topic's service directly.
    const view = monitor as unknown as { received: Map<string, Record<string, number>>; newest: Map<string, { eventId: string | null; kind: string }[]> };
    expect(view.received.get(Service.AuditService)).toEqual({ "forwarded-by-dapr": 2, permanent: 1 });
    expect(view.newest.get(Service.AuditService)?.map((d) => [d.eventId, d.kind])).toEqual([
      [null, "forwarded-by-dapr"],
      ["evt-2", "permanent"],
      ["evt-1", "forwarded-by-dapr"],
    ]);
    await app.close();
  });

  it("subscribes raw to every consumer's dead-letter topic, with no dead-letter topic of its own", async () => {
    const { app } = await setUp({});
    const subscriptions = (await app.inject({ method: "GET", url: "/dapr/subscribe", headers: { "dapr-api-token": TOKEN } })).json() as {
      topic: string;
      metadata?: unknown;
      deadLetterTopic?: string;
    }[];
    expect(subscriptions.map((s) => s.topic)).toEqual([Service.RecurringTaskService, Service.NotificationService, Service.AuditService].map(deadLetterTopicOf));
    expect(subscriptions.every((s) => s.deadLetterTopic === undefined && JSON.stringify(s.metadata) === '{"rawPayload":"true"}')).toBe(true);
    await app.close();
  });

  it("exports depth per dead-letter topic: records beyond the acknowledged offsets, all retained ones where none are acknowledged", async () => {
    const { monitor, registry, app } = await setUp({
      [deadLetterTopicOf(Service.NotificationService)]: { start: 0, end: 5, acked: 5 },
      [deadLetterTopicOf(Service.AuditService)]: { start: 2, end: 7, acked: 4 },
      [deadLetterTopicOf(Service.TaskApi)]: { start: 3, end: 4 },
    });
    const snapshot = await monitor.sample();
    expect(Object.fromEntries(snapshot.deadLetters.map((d) => [d.service, [d.retained, d.depth]]))).toEqual({
      [Service.TaskApi]: [1, 1],
      [Service.RecurringTaskService]: [0, 0],
      [Service.NotificationService]: [5, 0],
      [Service.AuditService]: [5, 3],
    });
    expect(snapshot.deadLetters.map((d) => d.service)).toEqual([...DEAD_LETTER_OWNERS]);
    const metrics = await registry.metrics();
    expect(metrics).toContain(`taskapp_deadletter_depth{service="${Service.AuditService}"} 3`);
    expect(metrics).toContain(`taskapp_deadletter_depth{service="${Service.NotificationService}"} 0`);
    await app.close();
  });
});
