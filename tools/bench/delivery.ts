/**
 * `npm run bench`: throughput of the event path through real Kafka and daprd.
 *
 * Figures are ratios against a baseline measured in the same run (the machine
 * is shared and noisy): concurrent vs sequential publishing, and bulk vs
 * single-event delivery to a consumer. Each case drains the same pre-published
 * topic under a fresh consumer group.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { deadLetterTopicOf } from "../../shared/catalog/names.ts";
import { defineConsumer, defineFunction, type BulkOptions } from "../../shared/host/define.ts";
import { runWithSidecar } from "../../shared/testing/function-under-test.ts";
import { ensureTopics } from "../stack/kafka.ts";
import { repoRoot } from "../stack/paths.ts";
import { startStack, type StackInfo } from "../stack/stack.ts";

const { values } = parseArgs({
  options: { events: { type: "string", default: "2000" }, "handler-ms": { type: "string", default: "1" } },
});
const N = Number(values.events);
const HANDLER_MS = Number(values["handler-ms"]);
const PARTITIONS = 6;
const run = randomUUID().slice(0, 8);
const topic = `bench-${run}`;
const Measured = defineEvent({ topic, type: "bench.measured.v1", schema: z.object({ seq: z.number().int() }) });

const rate = (count: number, ms: number) => (count / ms) * 1000;
const fmt = (n: number) => n.toFixed(0).padStart(8);

const publishAll = async (stack: StackInfo, concurrency: number, count: number): Promise<number> => {
  const producer = await runWithSidecar(stack, defineFunction({ name: `bench-producer-${run}-${concurrency}`, consumers: [] }));
  try {
    const events = Array.from({ length: count }, (_, seq) =>
      envelope({ event: Measured, data: { seq }, subject: `task-${seq % 500}`, source: "bench" }),
    );
    await producer.publisher.publish(topic, events[0]!); // warm the sidecar connection
    const started = performance.now();
    let next = 1;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < events.length) await producer.publisher.publish(topic, events[next++]!);
      }),
    );
    return rate(count - 1, performance.now() - started);
  } finally {
    await producer.stop();
  }
};

const drain = async (stack: StackInfo, label: string, expected: number, bulk?: BulkOptions): Promise<number> => {
  let handled = 0;
  let first = 0;
  const name = `bench-${label}-${run}`;
  await ensureTopics(stack.kafkaBrokers, [{ name: deadLetterTopicOf(name), partitions: 1 }]);
  const consumer = await runWithSidecar(
    stack,
    defineFunction({
      name,
      ...(bulk ? { bulk } : {}),
      consumers: [
        defineConsumer({
          event: Measured,
          async handle() {
            if (handled === 0) first = performance.now();
            if (HANDLER_MS > 0) await sleep(HANDLER_MS);
            handled++;
          },
        }),
      ],
    }),
  );
  try {
    const deadline = Date.now() + 300_000;
    while (handled < expected) {
      if (Date.now() > deadline) throw new Error(`${label}: handled ${handled} of ${expected} in 300 s`);
      await sleep(50);
    }
    // From the first delivery: consumer-group join time is not delivery throughput.
    return rate(expected - 1, performance.now() - first);
  } finally {
    await consumer.stop();
  }
};

const main = async () => {
  const stack = await startStack({ dataDir: join(repoRoot, ".data/bench"), ports: "free", fresh: true });
  try {
    await ensureTopics(stack.kafkaBrokers, [{ name: topic, partitions: PARTITIONS }]);
    process.stdout.write(`bench: ${N} events, ${PARTITIONS} partitions, handler ${HANDLER_MS} ms, Kafka ${stack.kafkaBrokers}\n\n`);

    const sequential = await publishAll(stack, 1, Math.floor(N / 2));
    const concurrent = await publishAll(stack, 16, N - Math.floor(N / 2));
    const total = N; // both publish runs wrote to the topic (the warm-up events included)

    const single = await drain(stack, "single", total);
    const bulk = await drain(stack, "bulk", total, { maxMessagesCount: 100, maxAwaitDurationMs: 20 });

    const rows: [string, number, string][] = [
      ["publish, 1 at a time (baseline)", sequential, "1.00"],
      ["publish, 16 concurrent", concurrent, (concurrent / sequential).toFixed(2)],
      ["deliver, single event (baseline)", single, "1.00"],
      ["deliver, bulk (100 / 20 ms)", bulk, (bulk / single).toFixed(2)],
    ];
    process.stdout.write(`${"case".padEnd(34)} events/s   ratio\n`);
    for (const [label, r, ratio] of rows) process.stdout.write(`${label.padEnd(34)}${fmt(r)}   ${ratio.padStart(5)}\n`);
  } finally {
    await stack.stop();
  }
};

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
