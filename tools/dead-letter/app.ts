/**
 * The tool's own Dapr app: a function of the host with no consumers and one raw subscription
 * (shared/host/raw-subscription.ts) to the dead-letter topics it reads. It keeps every record,
 * whatever its shape, read with the catalog's parseDeadLetter, and always answers SUCCESS, so
 * reading never retries or dead-letters anything.
 */
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { parseDeadLetter, type DeadLetterEntry } from "../../shared/catalog/dead-letter.ts";
import { buildApp } from "../../shared/host/app.ts";
import { defineFunction, type FunctionDef } from "../../shared/host/define.ts";
import type { Once } from "../../shared/host/idempotency.ts";
import type { Publisher } from "../../shared/host/publisher.ts";
import type { RawRecord } from "../../shared/host/raw-subscription.ts";

/** The records received per topic, a redelivered record once, in the order they came. */
export class Collector {
  private readonly byTopic = new Map<string, Map<string, DeadLetterEntry>>();

  constructor(topics: readonly string[]) {
    for (const topic of topics) this.byTopic.set(topic, new Map());
  }

  add({ topic, text, key }: RawRecord): void {
    const records = this.byTopic.get(topic);
    if (records && !records.has(key)) records.set(key, parseDeadLetter(text));
  }

  entries(topic: string): DeadLetterEntry[] {
    return [...(this.byTopic.get(topic)?.values() ?? [])];
  }
}

/** The tool as a function of the host: `appId` names it (its consumer group), `topics` are read raw into `collector`. */
export const toolFunction = (appId: string, topics: readonly string[], collector: Collector): FunctionDef =>
  defineFunction({
    name: appId,
    consumers: [],
    rawSubscription: { topics, receive: (record) => collector.add(record) },
  });

/** The tool consumes no events, so its host never publishes or claims an effect through these. */
const unused: { publisher: Publisher; once: Once } = {
  publisher: {
    async publish() {
      throw new Error("the dead-letter tool's app publishes nothing itself");
    },
  },
  once: async () => {
    throw new Error("the dead-letter tool's app claims no effects");
  },
};

/** Builds the app (not listening); only its sidecar (`appApiToken`) is answered. Its log goes to stderr: stdout is the tool's output. */
export const buildToolApp = (fn: FunctionDef, appApiToken: string): Promise<FastifyInstance> =>
  buildApp(fn, { ...unused, log: pino({ level: "warn", base: { service: fn.name } }, pino.destination(2)), maxDeliveryAttempts: 1, appApiToken });
