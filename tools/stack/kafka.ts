import { execFile as execFileCb } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TopicSpec } from "../../shared/catalog/names.ts";
import { kafkaAdmin, KafkaReader, plainKafkaAccess, type KafkaAccess } from "../../shared/kafka.ts";
import { repoRoot } from "./paths.ts";
import { startProcess, waitUntil, type ManagedProcess } from "./process.ts";

const execFile = promisify(execFileCb);

export interface KafkaOptions {
  java: string;
  classpath: string;
  /** Holds server.properties and the log dirs; formatted on first start. */
  dir: string;
  logFile: string;
  pidDir: string;
  port: number;
  controllerPort: number;
  /**
   * A second client listener that requires SASL (SASL_PLAINTEXT on `sasl.port`), with one user:
   * for showing clients against a broker that authenticates, as managed clusters do. The
   * PLAINTEXT listener stays for the broker itself. SCRAM credentials are written when the
   * storage is formatted, so they need a fresh `dir`.
   */
  sasl?: KafkaSaslListener;
}

export interface KafkaSaslListener {
  port: number;
  mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512";
  username: string;
  password: string;
}

/** The server.properties lines of the SASL listener (its JAAS entry holds the PLAIN user; SCRAM users live in the metadata log). */
const saslProperties = (sasl: KafkaSaslListener): string[] => {
  const prefix = `listener.name.sasl_plaintext.${sasl.mechanism.toLowerCase()}.sasl.jaas.config`;
  const jaas =
    sasl.mechanism === "PLAIN"
      ? `org.apache.kafka.common.security.plain.PlainLoginModule required user_${sasl.username}="${sasl.password}";`
      : "org.apache.kafka.common.security.scram.ScramLoginModule required;";
  return [`sasl.enabled.mechanisms=${sasl.mechanism}`, `${prefix}=${jaas}`];
};

/** A random cluster id in Kafka's format (base64url of 16 bytes, not starting with '-'). */
const clusterId = (): string => {
  for (;;) {
    const id = randomBytes(16).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
};

/** A single-node KRaft broker+controller on loopback, as a child process. */
export const startKafka = async (opts: KafkaOptions): Promise<{ brokers: string; saslBrokers?: string; process: ManagedProcess }> => {
  const logDirs = join(opts.dir, "data");
  const properties = join(opts.dir, "server.properties");
  mkdirSync(opts.dir, { recursive: true });
  writeFileSync(
    properties,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.bootstrap.servers=127.0.0.1:${opts.controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${opts.port},CONTROLLER://127.0.0.1:${opts.controllerPort}${opts.sasl ? `,SASL_PLAINTEXT://127.0.0.1:${opts.sasl.port}` : ""}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${opts.port}${opts.sasl ? `,SASL_PLAINTEXT://127.0.0.1:${opts.sasl.port}` : ""}`,
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
      ...(opts.sasl ? saslProperties(opts.sasl) : []),
      `log.dirs=${logDirs}`,
      // Topics are created explicitly with their partition counts; a typo must not create one.
      "auto.create.topics.enable=false",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=6",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "share.coordinator.state.topic.replication.factor=1",
      "share.coordinator.state.topic.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      "log.retention.hours=168",
      "",
    ].join("\n"),
  );
  const jvm = [`-Dlog4j2.configurationFile=${join(repoRoot, "tools/kafka-runtime/log4j2.properties")}`, "-cp", opts.classpath];
  if (!existsSync(join(logDirs, "meta.properties"))) {
    const scram =
      opts.sasl && opts.sasl.mechanism !== "PLAIN" ? ["--add-scram", `${opts.sasl.mechanism}=[name=${opts.sasl.username},password=${opts.sasl.password}]`] : [];
    await execFile(opts.java, [...jvm, "kafka.tools.StorageTool", "format", "-t", clusterId(), "-c", properties, "--standalone", ...scram]).catch(
      (err: { stdout?: string; stderr?: string }) => {
        throw new Error(`formatting Kafka storage in ${logDirs} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
      },
    );
  }
  const process = startProcess({
    name: "kafka",
    command: opts.java,
    args: ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1", ...jvm, "kafka.Kafka", properties],
    logFile: opts.logFile,
    pidDir: opts.pidDir,
  });
  const brokers = `127.0.0.1:${opts.port}`;
  await waitUntil(`Kafka on ${brokers}`, () => kafkaReady(brokers), { process, timeoutMs: 90_000, intervalMs: 500 });
  return { brokers, ...(opts.sasl ? { saslBrokers: `127.0.0.1:${opts.sasl.port}` } : {}), process };
};

/** True once the broker answers metadata requests (`access`: its SASL/TLS settings, if any). */
export const kafkaReady = async (brokers: string, access: KafkaAccess = plainKafkaAccess(brokers)): Promise<boolean> => {
  const reader = new KafkaReader(access, "local-stack-admin");
  try {
    return await reader.reachable();
  } finally {
    await reader.close();
  }
};

/**
 * Creates each topic that does not exist yet. An existing topic with fewer
 * partitions than asked for is an error (keys would map differently after growth).
 */
export const ensureTopics = async (brokers: string, topics: TopicSpec[], access: KafkaAccess = plainKafkaAccess(brokers)): Promise<void> => {
  const a = kafkaAdmin(access, "local-stack-admin", { retries: 2 });
  await a.connect();
  try {
    const existing = new Set(await a.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      await a.createTopics({
        // kafkajs's own wait gives up on a metadata answer that does not know the topic yet (a
        // busy broker's first answer): wait for the leaders here instead.
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: 1,
          ...(t.retentionMs ? { configEntries: [{ name: "retention.ms", value: String(t.retentionMs) }] } : {}),
        })),
      });
      const names = missing.map((t) => t.name);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const led = await a.fetchTopicMetadata({ topics: names }).then(
          ({ topics: described }) =>
            missing.every((t) => {
              const partitions = described.find((d) => d.name === t.name)?.partitions ?? [];
              return partitions.length >= t.partitions && partitions.every((p) => p.leader >= 0);
            }),
          () => false,
        );
        if (led) break;
        if (Date.now() > deadline) throw new Error(`topics ${names.join(", ")} have no leader 30 s after they were created`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const present = topics.filter((t) => existing.has(t.name));
    if (present.length > 0) {
      const { topics: described } = await a.fetchTopicMetadata({ topics: present.map((t) => t.name) });
      for (const t of present) {
        const count = described.find((d) => d.name === t.name)?.partitions.length ?? 0;
        if (count < t.partitions) {
          throw new Error(`topic ${t.name} has ${count} partitions, expected ${t.partitions}: recreate it or raise its partitions`);
        }
      }
    }
  } finally {
    await a.disconnect();
  }
};
