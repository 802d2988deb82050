/**
 * The dead-letter tool on the real stack: a consumer dead-letters an event; the
 * tool, as a Dapr app of its own, lists it with its reason (and an original
 * Dapr forwarded without a record); after the consumer is fixed, a replay
 * publishes the original through Dapr and the consumer handles it under the
 * same id, while the dead-letter topic keeps its records.
 */
import { execFile as execFileCb } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope, type CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { DEAD_LETTER_TYPE, FORWARDED_REASON } from "../../shared/catalog/dead-letter.ts";
import { DEAD_LETTER_TOOL, deadLetterTopicOf, PUBSUB, Service } from "../../shared/catalog/names.ts";
import { newToken } from "../../tools/stack/functions.ts";
import { freePort } from "../../tools/stack/process.ts";
import { sidecarFor } from "../../tools/stack/stack.ts";
import { defineConsumer, defineFunction } from "../../shared/host/define.ts";
import { permanent } from "../../shared/host/errors.ts";
import { createDaprClient } from "../../shared/host/publisher.ts";
import { runWithSidecar, type FunctionUnderTest } from "../../tools/stack/function-under-test.ts";
import { endOffsetTotal, readTopicUntil } from "../../tools/stack/topic-reader.ts";
import { listDeadLetters, replay } from "../../tools/dead-letter/dead-letters.ts";
import { connectToRunningStack } from "../../tools/dead-letter/stack.ts";
import { localStackTarget } from "../../tools/dead-letter/target.ts";
import { KafkaReader, plainKafkaAccess } from "../../shared/kafka.ts";
import { ensureTopics } from "../../tools/stack/kafka.ts";
import { repoRoot } from "../../tools/stack/paths.ts";
import type { StackInfo } from "../../tools/stack/stack.ts";
import { waitFor } from "../../tools/stack/wait.ts";

const execFile = promisify(execFileCb);

const stack = inject("stack");
const run = randomUUID().slice(0, 8);
const topic = `dlq-tool-${run}`;
const consumerName = `dlq-tool-consumer-${run}`;
const deadLetterTopic = deadLetterTopicOf(consumerName);
const schedulerPort = stack.schedulerAddress.split(":").pop()!;

const Noted = defineEvent({ topic, type: "test.noted.v1", schema: z.object({ note: z.string() }) });

/** Until the test fixes it, the consumer rejects every event for good. */
let fixed = false;
const handled: { id: string; subject: string | undefined }[] = [];

const consumer = defineFunction({
  name: consumerName,
  consumers: [
    defineConsumer({
      event: Noted,
      async handle(event) {
        if (!fixed) throw permanent(`note ${event.data.note} refers to a missing list`);
        handled.push({ id: event.id, subject: event.subject });
      },
    }),
  ],
});

let consumerApp: FunctionUnderTest;
/** The stack as the CLI finds it from its data directory. */
let connected: StackInfo;

const noted = (note: string, subject: string): CloudEventEnvelope => envelope({ event: Noted, data: { note }, subject, source: "test" });

const recordFor = (id: string) => (records: { value: unknown }[]) =>
  records.some((r) => {
    const v = r.value as { id?: string; type?: string; data?: { event?: { id?: string } } };
    return v.type === DEAD_LETTER_TYPE ? v.data?.event?.id === id : v.id === id;
  });

// One event the host dead-letters with its reason; one original as Dapr forwards it (no record).
const rejected = noted("groceries", "task-dlq-1");
const forwarded = noted("chores", "task-dlq-2");

beforeAll(async () => {
  await ensureTopics(stack.kafkaBrokers, [
    { name: topic, partitions: 2 },
    { name: deadLetterTopic, partitions: 1 },
  ]);
  consumerApp = await runWithSidecar(stack, consumer);
  connected = await connectToRunningStack(stack.dataDir, { DAPR_SCHEDULER_PORT: schedulerPort });

  await consumerApp.publisher.publish(topic, rejected);
  // What Dapr writes when its own retries run out: the original record's bytes as they were,
  // with the attributes Dapr added at publish (topic, pubsubname, trace). Raw payload keeps them as given.
  const dapr = createDaprClient(consumerApp.sidecarAddress);
  const { error } = await dapr.pubsub.publish(
    PUBSUB,
    deadLetterTopic,
    { ...forwarded, topic, pubsubname: PUBSUB, traceid: "00-1-2-01", traceparent: "00-1-2-01", tracestate: "" },
    { contentType: "application/json", metadata: { rawPayload: "true", partitionKey: forwarded.subject! } },
  );
  if (error) throw error instanceof Error ? error : new Error(String(error));
  await readTopicUntil(stack.kafkaBrokers, deadLetterTopic, (rs) => recordFor(rejected.id)(rs) && recordFor(forwarded.id)(rs));
});

afterAll(async () => {
  await consumerApp?.stop();
});

describe("the dead-letter tool", () => {
  it("finds the running stack from its data directory", () => {
    expect(connected).toMatchObject({
      kafkaBrokers: stack.kafkaBrokers,
      schedulerAddress: stack.schedulerAddress,
      resourcesPath: stack.resourcesPath,
      configFile: stack.configFile,
      logDir: stack.logDir,
      pidDir: stack.pidDir,
    });
  });

  it("lists a consumer's dead-lettered events with their reasons, both shapes", async () => {
    const [result] = await listDeadLetters(localStackTarget(connected), { consumers: [consumerName] });
    expect(result).toMatchObject({ consumer: consumerName, deadLetterTopic });
    expect(result!.entries).toHaveLength(2);
    expect(result!.entries.find((e) => e.eventId === rejected.id)).toMatchObject({
      kind: "permanent",
      type: Noted.type,
      subject: "task-dlq-1",
      topic,
      reason: "note groceries refers to a missing list",
      attempts: 1,
    });
    expect(result!.entries.find((e) => e.eventId === forwarded.id)).toMatchObject({
      kind: "forwarded-by-dapr",
      type: Noted.type,
      subject: "task-dlq-2",
      topic,
      reason: FORWARDED_REASON,
      attempts: null,
    });
    expect(handled).toEqual([]);
  });

  it("replays the originals to their topic under the same ids; the dead-letter topic keeps its records", async () => {
    fixed = true;
    const before = await endOffsetTotal(stack.kafkaBrokers, deadLetterTopic);

    const result = await replay(localStackTarget(connected), { consumer: consumerName, ids: [rejected.id, forwarded.id] });
    expect(result.replayed).toEqual([
      { eventId: rejected.id, type: Noted.type, subject: "task-dlq-1", topic },
      { eventId: forwarded.id, type: Noted.type, subject: "task-dlq-2", topic },
    ]);

    await waitFor("both replayed events", () => (handled.length >= 2 ? true : undefined));
    expect(handled).toEqual(
      expect.arrayContaining([
        { id: rejected.id, subject: "task-dlq-1" },
        { id: forwarded.id, subject: "task-dlq-2" },
      ]),
    );
    expect(await endOffsetTotal(stack.kafkaBrokers, deadLetterTopic)).toBe(before);
    // Replayed keyed by the task, like the original.
    const onTopic = await readTopicUntil(stack.kafkaBrokers, topic, (rs) => rs.filter((r) => (r.value as { id?: string }).id === forwarded.id).length >= 1);
    expect(onTopic.find((r) => (r.value as { id?: string }).id === forwarded.id)?.key).toBe("task-dlq-2");
  });

  it("leaves no consumer group or sidecar log of its runs behind", async () => {
    const kafka = new KafkaReader(plainKafkaAccess(stack.kafkaBrokers), "test-groups");
    const groups = await kafka.groupIds().finally(() => kafka.close());
    expect(groups.filter((g) => g.startsWith("dead-letter-tool-"))).toEqual([]);
    expect(readdirSync(stack.logDir).filter((f) => f.startsWith("daprd-dead-letter-tool-"))).toEqual([]);
  });

  it("runs in a pod beside its injected sidecar (DLQ_SIDECAR=pod, as the Job does): reads through it, then shuts it down", async () => {
    const stray = noted("pod", "task-dlq-pod");
    const { error } = await createDaprClient(consumerApp.sidecarAddress).pubsub.publish(
      PUBSUB,
      deadLetterTopicOf(Service.AuditService),
      { ...stray, topic, pubsubname: PUBSUB },
      { contentType: "application/json", metadata: { rawPayload: "true", partitionKey: stray.subject! } },
    );
    if (error) throw error instanceof Error ? error : new Error(String(error));
    const [appPort, daprPort] = [await freePort(), await freePort()];
    const appApiToken = newToken();
    const daprApiToken = newToken();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? "",
      DLQ_SIDECAR: "pod",
      APP_ID: DEAD_LETTER_TOOL,
      APP_HOST: "127.0.0.1",
      APP_PORT: String(appPort),
      APP_API_TOKEN: appApiToken,
      DAPR_HTTP_PORT: String(daprPort),
      DAPR_API_TOKEN: daprApiToken,
      KAFKA_BROKERS: stack.kafkaBrokers,
    };
    const tool = execFile(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "tools/dead-letter/cli.ts"), "list", "--consumer", Service.AuditService, "--json"],
      { cwd: repoRoot, env, timeout: 90_000 },
    );
    // The pod's sidecar: started beside the tool, as the injector does; it reaches the app once the tool listens.
    const sidecar = await sidecarFor(stack, DEAD_LETTER_TOOL, appPort, { httpPort: daprPort, appApiToken, daprApiToken });
    try {
      const { stdout } = await tool;
      const [listed] = JSON.parse(stdout) as { entries: { eventId: string; kind: string }[] }[];
      expect(listed?.entries).toEqual(expect.arrayContaining([expect.objectContaining({ eventId: stray.id, kind: "forwarded-by-dapr" })]));
      await waitFor("the sidecar to shut down", () => (sidecar.process.hasExited() ? true : undefined), 20_000);
      const kafka = new KafkaReader(plainKafkaAccess(stack.kafkaBrokers), "test-groups");
      expect(await kafka.groupIds().finally(() => kafka.close())).not.toContain(DEAD_LETTER_TOOL);
    } finally {
      await sidecar.stop();
    }
  });

  it("in a pod, a run that fails on a bad setting still stops the sidecar, so the Job can complete", async () => {
    const [appPort, daprPort] = [await freePort(), await freePort()];
    const daprApiToken = newToken();
    const tool = execFile(process.execPath, ["--import", "tsx", join(repoRoot, "tools/dead-letter/cli.ts"), "list"], {
      cwd: repoRoot,
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: process.env["HOME"] ?? "",
        DLQ_SIDECAR: "pod",
        APP_ID: DEAD_LETTER_TOOL,
        APP_PORT: String(appPort),
        APP_API_TOKEN: "short",
        DAPR_HTTP_PORT: String(daprPort),
        DAPR_API_TOKEN: daprApiToken,
        KAFKA_BROKERS: stack.kafkaBrokers,
      },
      timeout: 90_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? "" }),
    );
    // The app never listens, so the sidecar never becomes healthy: it exits when the tool asks it to.
    const sidecar = sidecarFor(stack, DEAD_LETTER_TOOL, appPort, { httpPort: daprPort, appApiToken: newToken(), daprApiToken });
    await expect(sidecar).rejects.toThrow(/exited/);
    const result = await tool;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("APP_API_TOKEN");
  });

  it("runs as npm run dlq against the stack in STACK_DATA_DIR", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, STACK_DATA_DIR: stack.dataDir, DAPR_SCHEDULER_PORT: schedulerPort };
    delete env["KAFKA_BROKERS"];
    const { stdout } = await execFile(
      process.execPath,
      ["--import", "tsx", join(repoRoot, "tools/dead-letter/cli.ts"), "list", "--consumer", Service.AuditService, "--json"],
      { cwd: repoRoot, env },
    );
    expect(JSON.parse(stdout)).toEqual([
      { consumer: Service.AuditService, deadLetterTopic: deadLetterTopicOf(Service.AuditService), entries: expect.any(Array) },
    ]);
  });
});
