/**
 * The production path end to end: a function publishes through its daprd to
 * Kafka; another function's daprd delivers to its handler; failures are retried
 * or dead-lettered with their reason; the partition keeps flowing.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope, type CloudEvent } from "../../shared/catalog/cloudevent.ts";
import { DEAD_LETTER_TYPE, DeadLetterRecord } from "../../shared/catalog/dead-letter.ts";
import { deadLetterTopicOf } from "../../shared/catalog/names.ts";
import { defineConsumer, defineFunction } from "../../shared/host/define.ts";
import { permanent } from "../../shared/host/errors.ts";
import { runWithSidecar, type FunctionUnderTest } from "../../tools/stack/function-under-test.ts";
import { readTopicUntil, type TopicRecord } from "../../tools/stack/topic-reader.ts";
import { ensureTopics } from "../../tools/stack/kafka.ts";
import { waitFor } from "../../tools/stack/wait.ts";

const stack = inject("stack");
const run = randomUUID().slice(0, 8);
const topic = `flow-${run}`;
const consumerName = `flow-consumer-${run}`;
const bulkConsumerName = `flow-bulk-consumer-${run}`;
const producerName = `flow-producer-${run}`;
const MAX_ATTEMPTS = 3;

const Behaviour = z.enum(["succeed", "fail-once", "fail-permanently", "fail-always"]);
const Happened = defineEvent({
  topic,
  type: "test.happened.v1",
  schema: z.object({ step: z.string(), behaviour: Behaviour, seq: z.number().int() }),
});
type Happened = z.infer<typeof Happened.schema>;

/** Every delivery a handler saw, in order, with its attempt number per event id. */
const seen: { consumer: string; event: CloudEvent<Happened> }[] = [];
const attemptsOf = (id: string) => seen.filter((s) => s.event.id === id && s.consumer === consumerName).length;

const consumer = defineFunction({
  name: consumerName,
  consumers: [
    defineConsumer({
      event: Happened,
      async handle(event) {
        seen.push({ consumer: consumerName, event });
        const b = event.data.behaviour;
        if (b === "fail-once" && attemptsOf(event.id) === 1) throw new Error("flaky dependency");
        if (b === "fail-permanently") throw permanent(`step ${event.data.step} can never succeed`);
        if (b === "fail-always") throw new Error("dependency still down");
      },
    }),
  ],
});

const bulkConsumer = defineFunction({
  name: bulkConsumerName,
  bulk: { maxMessagesCount: 50, maxAwaitDurationMs: 20 },
  consumers: [
    defineConsumer({
      event: Happened,
      async handle(event) {
        seen.push({ consumer: bulkConsumerName, event });
      },
    }),
  ],
});

const producer = defineFunction({ name: producerName, consumers: [] });

let consumerApp: FunctionUnderTest;
let bulkApp: FunctionUnderTest;
let producerApp: FunctionUnderTest;

const publish = async (step: string, behaviour: Happened["behaviour"], subject: string, seq = 0) => {
  const event = envelope({ event: Happened, data: { step, behaviour, seq }, subject, source: producerName });
  await producerApp.publisher.publish(topic, event);
  return event;
};

const deadLetters = (records: TopicRecord[]) => records.map((r) => ({ key: r.key, ce: r.value as { type: string; id: string; data: unknown } }));

beforeAll(async () => {
  await ensureTopics(stack.kafkaBrokers, [
    { name: topic, partitions: 3 },
    { name: deadLetterTopicOf(consumerName), partitions: 1 },
    { name: deadLetterTopicOf(bulkConsumerName), partitions: 1 },
  ]);
  [producerApp, consumerApp, bulkApp] = await Promise.all([
    runWithSidecar(stack, producer),
    runWithSidecar(stack, consumer, { maxDeliveryAttempts: MAX_ATTEMPTS }),
    runWithSidecar(stack, bulkConsumer),
  ]);
});

afterAll(async () => {
  await Promise.all([producerApp?.stop(), consumerApp?.stop(), bulkApp?.stop()]);
});

describe("publish through daprd, deliver through daprd", () => {
  it("puts the event on Kafka keyed by its subject, with our CloudEvent id, type and source", async () => {
    const sent = await publish("keyed", "succeed", "task-keyed");
    const records = await readTopicUntil(stack.kafkaBrokers, topic, (rs) => rs.some((r) => (r.value as { id?: string }).id === sent.id));
    const record = records.find((r) => (r.value as { id?: string }).id === sent.id)!;
    expect(record.key).toBe("task-keyed");
    expect(record.value).toMatchObject({
      specversion: "1.0",
      id: sent.id,
      type: "test.happened.v1",
      source: producerName,
      subject: "task-keyed",
      correlationid: sent.id,
      data: { step: "keyed", behaviour: "succeed", seq: 0 },
    });
  });

  it("delivers the event to the subscribing function's handler with its correlation id", async () => {
    const sent = await publish("delivered", "succeed", "task-delivered");
    const got = await waitFor("delivery", () => seen.find((s) => s.consumer === consumerName && s.event.id === sent.id));
    expect(got.event).toMatchObject({
      id: sent.id,
      type: Happened.type,
      subject: "task-delivered",
      correlationId: sent.correlationid,
      data: { step: "delivered", behaviour: "succeed" },
    });
  });

  it("redelivers an event whose handler threw once, and then it succeeds", async () => {
    const sent = await publish("flaky", "fail-once", "task-flaky");
    await waitFor("second delivery", () => (attemptsOf(sent.id) >= 2 ? true : undefined));
    await sleep(1_500);
    expect(attemptsOf(sent.id)).toBe(2);
  });

  it("dead-letters a permanent failure with its reason, and later events of the same task still flow", async () => {
    const poison = await publish("poison", "fail-permanently", "task-poison", 1);
    const after = await publish("after-poison", "succeed", "task-poison", 2);

    await waitFor("the event after the poison one", () => seen.find((s) => s.consumer === consumerName && s.event.id === after.id));
    expect(attemptsOf(poison.id)).toBe(1);

    const records = await readTopicUntil(stack.kafkaBrokers, deadLetterTopicOf(consumerName), (rs) =>
      deadLetters(rs).some(
        (d) => d.ce.data && (d.ce.data as DeadLetterRecord).event && ((d.ce.data as DeadLetterRecord).event as { id: string }).id === poison.id,
      ),
    );
    const entry = deadLetters(records).find((d) => ((d.ce.data as DeadLetterRecord).event as { id: string }).id === poison.id)!;
    expect(entry.key).toBe("task-poison");
    expect(entry.ce.type).toBe(DEAD_LETTER_TYPE);
    const record = DeadLetterRecord.parse(entry.ce.data);
    expect(record).toMatchObject({
      service: consumerName,
      topic,
      kind: "permanent",
      reason: "step poison can never succeed",
      attempts: 1,
    });
  });

  it(`dead-letters a transient failure after ${MAX_ATTEMPTS} deliveries, as retries-exhausted`, async () => {
    const sent = await publish("down", "fail-always", "task-down");
    const records = await readTopicUntil(stack.kafkaBrokers, deadLetterTopicOf(consumerName), (rs) =>
      deadLetters(rs).some((d) => ((d.ce.data as DeadLetterRecord).event as { id: string }).id === sent.id),
    );
    const entry = deadLetters(records).find((d) => ((d.ce.data as DeadLetterRecord).event as { id: string }).id === sent.id)!;
    expect(DeadLetterRecord.parse(entry.ce.data)).toMatchObject({
      kind: "retries-exhausted",
      attempts: MAX_ATTEMPTS,
      reason: "Error: dependency still down",
    });
    await sleep(1_000);
    expect(attemptsOf(sent.id)).toBe(MAX_ATTEMPTS);
  });

  it("dead-letters an event whose data breaks the schema at once, naming the field, without calling the handler", async () => {
    const bad = {
      specversion: "1.0" as const,
      id: randomUUID(),
      source: producerName,
      type: Happened.type,
      subject: "task-bad",
      datacontenttype: "application/json",
      data: { step: "bad", behaviour: "succeed", seq: "not-a-number" },
    };
    await producerApp.publisher.publish(topic, bad);
    const records = await readTopicUntil(stack.kafkaBrokers, deadLetterTopicOf(consumerName), (rs) =>
      deadLetters(rs).some((d) => ((d.ce.data as DeadLetterRecord).event as { id: string }).id === bad.id),
    );
    const entry = deadLetters(records).find((d) => ((d.ce.data as DeadLetterRecord).event as { id: string }).id === bad.id)!;
    const record = DeadLetterRecord.parse(entry.ce.data);
    expect(record.kind).toBe("invalid-data");
    expect(record.reason).toContain("seq");
    expect(attemptsOf(bad.id)).toBe(0);
  });

  it("delivers in bulk, every event once, in order per task", async () => {
    const tasks = ["task-b1", "task-b2", "task-b3", "task-b4"];
    const sent = [];
    for (let seq = 0; seq < 40; seq++) sent.push(await publish(`bulk-${seq}`, "succeed", tasks[seq % tasks.length]!, seq));
    const ids = new Set(sent.map((e) => e.id));
    await waitFor("all bulk deliveries", () =>
      seen.filter((s) => s.consumer === bulkConsumerName && ids.has(s.event.id)).length >= sent.length ? true : undefined,
    );
    const got = seen.filter((s) => s.consumer === bulkConsumerName && ids.has(s.event.id));
    expect(new Set(got.map((s) => s.event.id)).size).toBe(sent.length);
    expect(got.length).toBe(sent.length);
    for (const task of tasks) {
      const seqs = got.filter((s) => s.event.subject === task).map((s) => s.event.data.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });
});
