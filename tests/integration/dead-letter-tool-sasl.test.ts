/**
 * `npm run dlq` against a Kafka that authenticates, the way it runs against a cluster's: a broker
 * of its own with a SASL/SCRAM-SHA-256 listener, the tool given only the variables the functions
 * get in a cluster (KAFKA_BROKERS, KAFKA_SASL_MECHANISM in KEDA's spelling, KAFKA_SASL_USERNAME,
 * KAFKA_SASL_PASSWORD, KAFKA_TLS). A consumer dead-letters an event through the authenticated
 * broker; the tool lists it (and an original Dapr forwarded) and replays both; wrong credentials
 * fail at once with a message that says so.
 */
import { execFile as execFileCb } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { FORWARDED_REASON } from "../../shared/catalog/dead-letter.ts";
import { allTopics, DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopicOf, PUBSUB, Service, Topic } from "../../shared/catalog/names.ts";
import { parseConfig } from "../../shared/config.ts";
import { defineConsumer, defineFunction } from "../../shared/host/define.ts";
import { permanent } from "../../shared/host/errors.ts";
import { createDaprClient } from "../../shared/host/publisher.ts";
import { KafkaAccessConfig, kafkaAccessOf, KafkaReader } from "../../shared/kafka.ts";
import { runWithSidecar, type FunctionUnderTest } from "../../tools/stack/function-under-test.ts";
import { waitFor } from "../../tools/stack/wait.ts";
import { renderToolResources } from "../../tools/dead-letter/target.ts";
import { ensureTopics, startKafka } from "../../tools/stack/kafka.ts";
import { repoRoot } from "../../tools/stack/paths.ts";
import { freePort, type ManagedProcess } from "../../tools/stack/process.ts";
import { ensureKafka } from "../../tools/stack/provision.ts";

const execFile = promisify(execFileCb);
const shared = inject("stack");
const run = randomBytes(4).toString("hex");
const dir = join(shared.dataDir, `dlq-sasl-${run}`);
const username = "dlq-operator";
const password = randomBytes(18).toString("base64url");

/** The consumer whose dead-letter topic the tool reads: a catalog name, on a broker of this test's own. */
const consumerName = Service.RecurringTaskService;
const deadLetterTopic = deadLetterTopicOf(consumerName);
const Noted = defineEvent({ topic: Topic.TaskEvents, type: "test.noted.v1", schema: z.object({ note: z.string() }) });
let fixed = false;
const handled: string[] = [];

let kafka: ManagedProcess | undefined;
let consumer: FunctionUnderTest | undefined;
/** What the functions get in a cluster (KEDA's spelling of the mechanism, from the ConfigMap kafka-auth). */
let clusterEnv: Record<string, string>;

const rejected = envelope({ event: Noted, data: { note: "groceries" }, subject: "task-sasl-1", source: "test" });
const forwarded = envelope({ event: Noted, data: { note: "chores" }, subject: "task-sasl-2", source: "test" });

const dlq = async (args: string[], env: Record<string, string>) => {
  const started = Date.now();
  try {
    const { stdout, stderr } = await execFile(process.execPath, ["--import", "tsx", join(repoRoot, "tools/dead-letter/cli.ts"), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", STACK_DATA_DIR: dir, ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr, ms: Date.now() - started };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "", ms: Date.now() - started };
  }
};

beforeAll(async () => {
  const { java, classpath } = await ensureKafka();
  const started = await startKafka({
    java,
    classpath,
    dir: join(dir, "kafka"),
    logFile: join(shared.logDir, `kafka-sasl-${run}.log`),
    pidDir: shared.pidDir,
    port: await freePort(),
    controllerPort: await freePort(),
    sasl: { port: await freePort(), mechanism: "SCRAM-SHA-256", username, password },
  });
  kafka = started.process;
  clusterEnv = {
    KAFKA_BROKERS: started.saslBrokers!,
    KAFKA_SASL_MECHANISM: "scram_sha256",
    KAFKA_SASL_USERNAME: username,
    KAFKA_SASL_PASSWORD: password,
    KAFKA_TLS: "false",
  };
  const access = kafkaAccessOf(parseConfig(KafkaAccessConfig, clusterEnv));
  await ensureTopics(started.saslBrokers!, allTopics(), access);

  // The consumer's sidecar speaks SCRAM to the broker with the component the tool renders.
  const resources = renderToolResources(access, join(dir, "dapr"));
  consumer = await runWithSidecar(
    { ...shared, kafkaBrokers: started.saslBrokers!, ...resources },
    defineFunction({
      name: consumerName,
      consumers: [
        defineConsumer({
          event: Noted,
          async handle(event) {
            if (!fixed) throw permanent(`note ${event.data.note} refers to a missing list`);
            handled.push(event.id);
          },
        }),
      ],
    }),
  );
  await consumer.publisher.publish(Topic.TaskEvents, rejected);
  const { error } = await createDaprClient(consumer.sidecarAddress).pubsub.publish(
    PUBSUB,
    deadLetterTopic,
    { ...forwarded, topic: Topic.TaskEvents, pubsubname: PUBSUB },
    { contentType: "application/json", metadata: { rawPayload: "true", partitionKey: forwarded.subject! } },
  );
  if (error) throw error instanceof Error ? error : new Error(String(error));
  const reader = new KafkaReader(access, "test-dlq-sasl");
  await waitFor("both records on the dead-letter topic", async () => ((await reader.endOffsetTotal(deadLetterTopic)) >= 2 ? true : undefined), 30_000).finally(
    () => reader.close(),
  );
}, 240_000);

afterAll(async () => {
  await consumer?.stop();
  await kafka?.stop();
});

describe("npm run dlq against a SASL-authenticated Kafka", () => {
  it("lists both shapes, reading through a sidecar whose pub/sub component it rendered from KAFKA_*", async () => {
    const result = await dlq(["list", "--consumer", consumerName, "--json"], clusterEnv);
    expect(result.stderr).not.toContain("failed");
    expect(result.code).toBe(0);
    const [listed] = JSON.parse(result.stdout) as { deadLetterTopic: string; entries: { eventId: string; kind: string; reason: string; topic: string }[] }[];
    expect(listed?.deadLetterTopic).toBe(deadLetterTopic);
    expect(listed?.entries.map((e) => [e.eventId, e.kind, e.topic]).sort()).toEqual(
      [
        [rejected.id, "permanent", Topic.TaskEvents],
        [forwarded.id, "forwarded-by-dapr", Topic.TaskEvents],
      ].sort(),
    );
    expect(listed?.entries.find((e) => e.eventId === forwarded.id)?.reason).toBe(FORWARDED_REASON);
    process.stdout.write(`[dlq-sasl] list: ${result.ms} ms\n`);
  });

  it("replays them through the authenticated broker; the consumer handles both under their ids; --all acknowledges them", async () => {
    fixed = true;
    const reader = new KafkaReader(kafkaAccessOf(parseConfig(KafkaAccessConfig, clusterEnv)), "test-dlq-sasl");
    expect(await reader.pending(DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopic)).toBe(2);
    const result = await dlq(["replay", "--consumer", consumerName, "--all"], clusterEnv);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("replayed 2 events");
    await waitFor("both replayed events handled", () => (handled.length >= 2 ? true : undefined), 30_000);
    expect(handled.sort()).toEqual([rejected.id, forwarded.id].sort());
    expect(await reader.pending(DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopic).finally(() => reader.close())).toBe(0);
    process.stdout.write(`[dlq-sasl] replay: ${result.ms} ms\n`);
  });

  it("leaves no consumer group of its runs behind, only the acknowledgement bookmark", async () => {
    const reader = new KafkaReader(kafkaAccessOf(parseConfig(KafkaAccessConfig, clusterEnv)), "test-dlq-sasl");
    const groups = await reader.groupIds().finally(() => reader.close());
    expect(groups.filter((g) => g.startsWith("dead-letter-tool"))).toEqual([DEAD_LETTERS_ACKNOWLEDGED]);
  });

  it("wrong credentials fail at once with a message that says so, before any sidecar starts", async () => {
    const result = await dlq(["list"], { ...clusterEnv, KAFKA_SASL_PASSWORD: "not-the-password" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`dlq list failed: Kafka at ${clusterEnv["KAFKA_BROKERS"]} refused the credentials (SASL scram-sha-256, user ${username})`);
    expect(result.stderr).not.toContain("not-the-password");
    expect(result.ms).toBeLessThan(20_000);
    process.stdout.write(`[dlq-sasl] wrong password refused in ${result.ms} ms\n`);
  });

  it("a missing password is a configuration error naming the variable", async () => {
    const { KAFKA_SASL_PASSWORD: _, ...withoutPassword } = clusterEnv;
    const result = await dlq(["list"], withoutPassword);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("KAFKA_SASL_PASSWORD");
  });
});
