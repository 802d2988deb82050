/**
 * P1 consumer drain: a backlog of events on a topic, drained by a new
 * consumer group whose handler claims an idempotent effect per event in the
 * Dapr state store (what ctx.once does for every effect the consumers have),
 * as events per second from the first effect to the last, and as a ratio to
 * the @dapr/dapr SDK's DaprServer subscriber doing the same work through its own daprd.
 *
 *   DaprServer (SDK), one event per push   the baseline
 *   our host, one event per push
 *   our host, bulk (100 / 50 ms)           what the consumers run
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { CommunicationProtocolEnum, DaprServer, LogLevel } from "@dapr/dapr";
import { z } from "zod";
import { defineEvent, envelope, type CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { deadLetterTopicOf, PUBSUB } from "../../shared/catalog/names.ts";
import { BULK_DELIVERY, defineConsumer, defineFunction, type BulkOptions } from "../../shared/host/define.ts";
import { createOnce, daprStateClient, type Once } from "../../shared/host/idempotency.ts";
import { daprBulkPublishAttempt } from "../../shared/host/publisher.ts";
import { runWithSidecar } from "../../tools/stack/function-under-test.ts";
import { ensureTopics } from "../stack/kafka.ts";
import { freePort } from "../stack/process.ts";
import { sidecarFor, type StackInfo } from "../stack/stack.ts";
import type { Rate } from "./publish.ts";

const PARTITIONS = 6;

export const benchDrain = async (stack: StackInfo, events: number, log: (line: string) => void): Promise<Rate[]> => {
  const run = randomUUID().slice(0, 8);
  const topic = `bench-drain-${run}`;
  await ensureTopics(stack.kafkaBrokers, [{ name: topic, partitions: PARTITIONS }]);
  const Backlogged = defineEvent({ topic, type: "bench.backlogged.v1", schema: z.object({ seq: z.number().int() }) });
  await fillBacklog(stack, topic, events, (seq) => envelope({ event: Backlogged, data: { seq }, subject: `task-${seq % 500}`, source: "bench" }));
  log(`P1: ${events} events waiting on ${topic}`);

  /** Counts effects; resolves the rate once every event's effect ran. */
  const meter = () => {
    let done = 0;
    let first = 0;
    let last = 0;
    return {
      effect: async () => {
        if (done === 0) first = performance.now();
        done++;
        last = performance.now();
      },
      rate: async (label: string): Promise<Rate> => {
        const deadline = Date.now() + 600_000;
        while (done < events) {
          if (Date.now() > deadline) throw new Error(`${label}: ${done} of ${events} effects in 600 s`);
          await sleep(50);
        }
        // From the first effect: joining the consumer group is not draining.
        return { label, eventsPerS: ((events - 1) / (last - first)) * 1000 };
      },
    };
  };

  const host = async (label: string, bulk?: BulkOptions): Promise<Rate> => {
    const m = meter();
    const name = `bench-host-${bulk ? "bulk" : "single"}-${run}`;
    await ensureTopics(stack.kafkaBrokers, [{ name: deadLetterTopicOf(name), partitions: 1 }]);
    const app = await runWithSidecar(
      stack,
      defineFunction({
        name,
        ...(bulk ? { bulk } : {}),
        consumers: [
          defineConsumer({
            event: Backlogged,
            async handle(event, { once }) {
              await once(`bench:${run}:${name}:${event.data.seq}`, m.effect);
            },
          }),
        ],
      }),
    );
    try {
      return await m.rate(label);
    } finally {
      await app.stop();
    }
  };

  const daprServer = async (label: string): Promise<Rate> => {
    const m = meter();
    const name = `bench-sdk-${run}`;
    const [appPort, daprPort] = [await freePort(), await freePort()];
    const server = new DaprServer({
      serverHost: "127.0.0.1",
      serverPort: String(appPort),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      clientOptions: { daprHost: "127.0.0.1", daprPort: String(daprPort) },
      logger: { level: LogLevel.Error },
    });
    const once: Once = createOnce(daprStateClient({ daprHost: "127.0.0.1", daprPort }));
    await server.pubsub.subscribe(PUBSUB, topic, async (data: { seq: number }) => {
      await once(`bench:${run}:${name}:${data.seq}`, m.effect);
    });
    // The SDK server waits for its sidecar, which waits for the app's port: start both together.
    const serving = server.start();
    const sidecar = await sidecarFor(stack, name, appPort, { httpPort: daprPort, appHealthCheck: false });
    try {
      await serving;
      return await m.rate(label);
    } finally {
      await sidecar.stop();
      await server.stop();
    }
  };

  const baseline = await daprServer("DaprServer (SDK), one event per push (baseline)");
  log(`P1: ${baseline.label}: ${baseline.eventsPerS.toFixed(0)} events/s`);
  const single = await host("our host, one event per push");
  log(`P1: ${single.label}: ${single.eventsPerS.toFixed(0)} events/s`);
  const bulk = await host(`our host, bulk (${BULK_DELIVERY.maxMessagesCount} / ${BULK_DELIVERY.maxAwaitDurationMs} ms)`, BULK_DELIVERY);
  return [baseline, single, bulk];
};

/** Puts `count` events on `topic` through a sidecar's bulk publish API. */
const fillBacklog = async (stack: StackInfo, topic: string, count: number, make: (seq: number) => CloudEventEnvelope) => {
  const app = await runWithSidecar(stack, defineFunction({ name: `bench-filler-${randomUUID().slice(0, 8)}`, consumers: [] }));
  try {
    const bulk = daprBulkPublishAttempt(app.sidecarAddress);
    for (let from = 0; from < count; from += 100) {
      const outcomes = await bulk(
        topic,
        Array.from({ length: Math.min(100, count - from) }, (_, i) => make(from + i)),
      );
      if (outcomes.some((o) => !o.ok)) throw new Error(`filling ${topic} failed at ${from}`);
    }
  } finally {
    await app.stop();
  }
};
