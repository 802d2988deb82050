/**
 * A function run the way it runs in a pod: its own process started by
 * runFunction (main.ts), its own daprd. Derived events keep the correlation;
 * SIGTERM lets in-flight work finish before the process exits.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { deadLetterTopicOf } from "../../shared/catalog/names.ts";
import { createDaprPublisher, type Publisher } from "../../shared/host/publisher.ts";
import { readTopicUntil } from "../../tools/stack/topic-reader.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { ensureTopics } from "../../tools/stack/kafka.ts";
import { repoRoot } from "../../tools/stack/paths.ts";
import { waitUntil } from "../../tools/stack/process.ts";

const stack = inject("stack");
const run = randomUUID().slice(0, 8);
const name = `relay-${run}`;
const inTopic = `asked-${run}`;
const outTopic = `relayed-${run}`;

// The same definitions the fixture builds from its environment.
const Asked = defineEvent({
  topic: inTopic,
  type: "test.asked.v1",
  schema: z.object({ question: z.string(), delayMs: z.number().int() }),
});

let relay: RunningFunction;
let publisher: Publisher;

const ask = async (question: string, delayMs: number) => {
  const event = envelope({ event: Asked, data: { question, delayMs }, subject: `task-${question}`, source: "test" });
  await publisher.publish(inTopic, event);
  return event;
};

const logLines = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const relayedFor = (id: string) => (records: { value: unknown }[]) => records.find((r) => (r.value as { causationid?: string }).causationid === id);

beforeAll(async () => {
  await ensureTopics(stack.kafkaBrokers, [
    { name: inTopic, partitions: 2 },
    { name: outTopic, partitions: 2 },
    { name: deadLetterTopicOf(name), partitions: 1 },
  ]);
  relay = await startFunction(stack, name, {
    entry: join(repoRoot, "tests/fixtures/relay-function/main.ts"),
    env: { FUNCTION_NAME: name, IN_TOPIC: inTopic, OUT_TOPIC: outTopic, LOG_LEVEL: "info" },
  });
  publisher = createDaprPublisher(relay.sidecarAddress);
});

afterAll(async () => {
  await relay?.stop();
});

describe("a function in its own process with its own daprd", () => {
  it("handles an event and publishes the derived event with correlation and causation ids, keyed by task", async () => {
    const asked = await ask("hello", 0);
    const records = await readTopicUntil(stack.kafkaBrokers, outTopic, (rs) => !!relayedFor(asked.id)(rs));
    const relayed = relayedFor(asked.id)(records)!;
    expect(relayed).toMatchObject({
      key: "task-hello",
      value: {
        type: "test.relayed.v1",
        source: name,
        subject: "task-hello",
        correlationid: asked.correlationid,
        causationid: asked.id,
        data: { answer: "HELLO" },
      },
    });
  });

  it("logs as JSON with the service name and the event's correlation id", () => {
    const lines = logLines(relay.app.logFile).filter((l) => l["msg"] === "relay: handling");
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatchObject({ service: name, type: "test.asked.v1" });
    expect(lines[0]!["correlationId"]).toEqual(expect.any(String));
  });

  it("on SIGTERM finishes the event in flight, then exits 0", async () => {
    const asked = await ask("slow", 3_000);
    await waitUntil(
      "the relay to start handling the slow event",
      async () => logLines(relay.app.logFile).some((l) => l["eventId"] === asked.id && l["msg"] === "relay: handling"),
      { timeoutMs: 30_000 },
    );
    await relay.app.stop("SIGTERM", 15_000);
    expect(await relay.app.exited).toBe(0);
    const records = await readTopicUntil(stack.kafkaBrokers, outTopic, (rs) => !!relayedFor(asked.id)(rs));
    expect(relayedFor(asked.id)(records)).toMatchObject({ value: { data: { answer: "SLOW" } } });
  });
});
