/**
 * Test-only Kafka reads: what a topic holds, keys included, to check what Dapr
 * published (a kafkajs consumer: tests only). Offsets come from shared/kafka.ts like everywhere
 * else. Production code never reads or writes records directly.
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { KafkaReader, plainKafkaAccess } from "../../shared/kafka.ts";

export interface TopicRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: unknown;
}

const client = (brokers: string) => new Kafka({ clientId: "test-reader", brokers: brokers.split(","), logLevel: logLevel.NOTHING });

/**
 * Reads a topic from the beginning until `until` holds for what was read, or
 * the time-out passes (then it fails, showing what it had).
 */
export const readTopicUntil = async (
  brokers: string,
  topic: string,
  until: (records: TopicRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<TopicRecord[]> => {
  const consumer = client(brokers).consumer({ groupId: `test-reader-${randomUUID()}` });
  const records: TopicRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${topic}: condition not met in ${timeoutMs} ms; read ${JSON.stringify(records, null, 1)}`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const text = message.value?.toString("utf8") ?? "";
            let value: unknown = text;
            try {
              value = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            records.push({ partition, offset: message.offset, key: message.key?.toString("utf8") ?? null, value });
            if (until(records)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
};

/** Sum of log-end offsets of a topic: grows by one per record written. */
export const endOffsetTotal = async (brokers: string, topic: string): Promise<number> => {
  const reader = new KafkaReader(plainKafkaAccess(brokers), "test-reader");
  try {
    return await reader.endOffsetTotal(topic);
  } finally {
    await reader.close();
  }
};

/** Everything a topic holds now: reads until every partition's log-end offset (as of the call) is reached. */
export const readTopicToEnd = async (brokers: string, topic: string, timeoutMs = 30_000): Promise<TopicRecord[]> => {
  const reader = new KafkaReader(plainKafkaAccess(brokers), "test-reader");
  const ends = await reader.logEnds([topic]).finally(() => reader.close());
  const last = new Map([...(ends.get(topic) ?? new Map<number, number>())].filter(([, end]) => end > 0).map(([partition, end]) => [partition, end - 1]));
  if (last.size === 0) return [];
  return readTopicUntil(
    brokers,
    topic,
    (records) => [...last].every(([partition, offset]) => records.some((r) => r.partition === partition && Number(r.offset) >= offset)),
    timeoutMs,
  );
};
