/**
 * P2 publishing: the same events onto the same broker by each path, as events
 * per second and as a ratio to a direct Kafka producer (kafkajs, acks=all).
 * The direct producer is a baseline only: production publishes through Dapr.
 *
 *   kafkajs, one at a time         the baseline: one record, one acknowledgement
 *   kafkajs, batches of 100
 *   daprd, one at a time           the sidecar's publish API, one HTTP call per event
 *   daprd bulk, batches of 100     the sidecar's bulk publish API
 *   relay path, 64 tasks at once   the publisher task-api's outbox relay uses: events of
 *                                  concurrent tasks coalesced into bulk requests, one per task at a time
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { z } from "zod";
import { defineEvent, envelope, type CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { defineFunction } from "../../shared/host/define.ts";
import { createDaprClient, createDaprPublisher, daprBulkPublishAttempt, daprPublishAttempt } from "../../shared/host/publisher.ts";
import { runWithSidecar } from "../../tools/stack/function-under-test.ts";
import { ensureTopics } from "../stack/kafka.ts";
import type { StackInfo } from "../stack/stack.ts";

export interface Rate {
  label: string;
  eventsPerS: number;
}

const PARTITIONS = 6;
const TASKS = 500;

export const benchPublishing = async (stack: StackInfo, events: number): Promise<Rate[]> => {
  const run = randomUUID().slice(0, 8);
  const topic = `bench-publish-${run}`;
  await ensureTopics(stack.kafkaBrokers, [{ name: topic, partitions: PARTITIONS }]);
  const Measured = defineEvent({ topic, type: "bench.published.v1", schema: z.object({ seq: z.number().int() }) });
  const batch = (): CloudEventEnvelope[] =>
    Array.from({ length: events }, (_, seq) => envelope({ event: Measured, data: { seq }, subject: `task-${seq % TASKS}`, source: "bench" }));
  const timed = async (label: string, send: (all: CloudEventEnvelope[]) => Promise<void>): Promise<Rate> => {
    const all = batch();
    await send(all.slice(0, 100)); // warm connections and code paths
    const started = performance.now();
    await send(all);
    return { label, eventsPerS: (events / (performance.now() - started)) * 1000 };
  };
  const chunks = <T>(items: T[], size: number): T[][] =>
    Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

  const kafka = new Kafka({ clientId: "bench-baseline", brokers: stack.kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const record = (e: CloudEventEnvelope) => ({ key: e.subject ?? e.id, value: JSON.stringify(e) });
  const rates: Rate[] = [];
  try {
    rates.push(
      await timed("kafkajs, one at a time (baseline)", async (all) => {
        for (const e of all) await producer.send({ topic, acks: -1, messages: [record(e)] });
      }),
      await timed("kafkajs, batches of 100", async (all) => {
        for (const part of chunks(all, 100)) await producer.send({ topic, acks: -1, messages: part.map(record) });
      }),
    );
  } finally {
    await producer.disconnect();
  }

  const app = await runWithSidecar(stack, defineFunction({ name: `bench-publisher-${run}`, consumers: [] }));
  try {
    const sidecar = app.sidecarAddress;
    const client = createDaprClient(sidecar);
    const single = daprPublishAttempt(client);
    const bulk = daprBulkPublishAttempt(sidecar);
    const relayPublisher = createDaprPublisher(sidecar);
    rates.push(
      await timed("daprd, one at a time", async (all) => {
        for (const e of all) await single(topic, e);
      }),
      await timed("daprd bulk, batches of 100", async (all) => {
        for (const part of chunks(all, 100)) {
          const outcomes = await bulk(topic, part);
          if (outcomes.some((o) => !o.ok)) throw new Error("bulk publish failed");
        }
      }),
      await timed("relay path, 64 tasks at once", async (all) => {
        // Each task's events in order, one at a time, as the relay carries out an outbox.
        const byTask = new Map<string, CloudEventEnvelope[]>();
        for (const e of all) byTask.set(e.subject!, [...(byTask.get(e.subject!) ?? []), e]);
        const tasks = [...byTask.values()];
        let next = 0;
        await Promise.all(
          Array.from({ length: 64 }, async () => {
            while (next < tasks.length) for (const e of tasks[next++]!) await relayPublisher.publish(topic, e);
          }),
        );
      }),
    );
  } finally {
    await app.stop();
  }
  return rates;
};
