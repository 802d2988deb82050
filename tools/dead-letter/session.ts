/**
 * One run of the tool as a short-lived Dapr app: a unique app-id (= its consumer
 * group, new each run, so the pub/sub's `initialOffset: oldest` reads every
 * dead-letter topic from its beginning without touching any other group), a
 * real daprd beside it, and a read-only Kafka admin client that tells when
 * everything up to the topics' end offsets has been received.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Kafka, logLevel, type Admin, type DeleteGroupsResult } from "kafkajs";
import { createDaprPublisher, type Publisher } from "../../shared/host/publisher.ts";
import type { Sidecar } from "../stack/dapr.ts";
import { newToken } from "../stack/functions.ts";
import { freePort, waitUntil } from "../stack/process.ts";
import { sidecarFor, type StackInfo } from "../stack/stack.ts";
import { buildToolApp, Collector } from "./app.ts";
import { ReplayError, type DeadLetterEntry } from "./records.ts";

/** App-ids of the tool's runs start with this. */
export const TOOL_APP_ID_PREFIX = "dead-letter-tool";

export const newToolAppId = (): string => `${TOOL_APP_ID_PREFIX}-${randomBytes(4).toString("hex")}`;

export interface SessionOptions {
  /** How long to wait until every record up to the end offsets has arrived (default 60 s). */
  timeoutMs?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface Session {
  appId: string;
  /** Every record of each topic, up to its end offsets when the run started (and any that came after). */
  entries: ReadonlyMap<string, DeadLetterEntry[]>;
  /** Publishes through the tool's sidecar. */
  publisher: Publisher;
}

interface PartitionRange {
  partition: number;
  low: number;
  high: number;
}

const adminFor = (brokers: string): Admin =>
  new Kafka({
    clientId: TOOL_APP_ID_PREFIX,
    brokers: brokers.split(","),
    logLevel: logLevel.NOTHING,
    retry: { retries: 3 },
    connectionTimeout: 3_000,
  }).admin();

/** The offsets each topic's partitions hold now: [low, high). */
const topicRanges = async (admin: Admin, topics: readonly string[]): Promise<Map<string, PartitionRange[]>> => {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0) throw new Error(`no such topic: ${missing.join(", ")} (the stack creates every dead-letter topic at start)`);
  const ranges = new Map<string, PartitionRange[]>();
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    ranges.set(
      topic,
      offsets.map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) })),
    );
  }
  return ranges;
};

const recordCount = (ranges: Map<string, PartitionRange[]>): number =>
  [...ranges.values()].flat().reduce((n, p) => n + (p.high - p.low), 0);

/**
 * True once the group's committed offsets reached `ranges`' ends: daprd commits
 * a record's offset only after the app answered it, so everything before the
 * end offsets has been received. (Dapr's per-record metadata cannot tell
 * positions: a record Dapr forwarded carries the original record's position headers.)
 */
const readToEnd = async (admin: Admin, groupId: string, ranges: Map<string, PartitionRange[]>): Promise<boolean> => {
  const committed = await admin.fetchOffsets({ groupId, topics: [...ranges.keys()] });
  for (const [topic, partitions] of ranges) {
    for (const p of partitions) {
      if (p.high <= p.low) continue;
      const offset = committed.find((c) => c.topic === topic)?.partitions.find((c) => c.partition === p.partition)?.offset;
      if (offset === undefined || Number(offset) < p.high) return false;
    }
  }
  return true;
};

/** The per-group results of kafkajs' DeleteGroups error (its class is not an ESM export). */
const groupErrorsOf = (err: unknown): DeleteGroupsResult[] =>
  typeof err === "object" && err !== null && Array.isArray((err as { groups?: unknown }).groups)
    ? (err as { groups: DeleteGroupsResult[] }).groups
    : [];

/** Removes the run's consumer group once daprd has left it; a leftover group is only reported. */
const deleteGroup = async (admin: Admin, groupId: string, log: (line: string) => void): Promise<void> => {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await admin.deleteGroups([groupId]);
      return;
    } catch (err) {
      const types = groupErrorsOf(err).map((g) => g.error?.type);
      // Never joined (the sidecar did not get that far): nothing to remove.
      if (types.length > 0 && types.every((t) => t === "GROUP_ID_NOT_FOUND")) return;
      if (Date.now() > deadline) {
        log(`consumer group ${groupId} was left behind (${err instanceof Error ? err.message : String(err)})`);
        return;
      }
      await sleep(500);
    }
  }
};

const noSidecar: Publisher = {
  async publish() {
    throw new Error("nothing was read, so no sidecar was started to publish through");
  },
};

/**
 * Reads `topics` to their end through a sidecar of the tool, then runs `use`
 * while the sidecar still runs (a replay publishes through it), then stops the
 * sidecar and the app and deletes the run's consumer group. With nothing on the
 * topics no sidecar is started.
 */
export const withDeadLetters = async <T>(
  stack: StackInfo,
  topics: readonly string[],
  opts: SessionOptions,
  use: (session: Session) => Promise<T>,
): Promise<T> => {
  const log = opts.log ?? (() => undefined);
  const appId = newToolAppId();
  const admin = adminFor(stack.kafkaBrokers);
  await admin.connect();
  try {
    const ranges = await topicRanges(admin, topics);
    const expected = recordCount(ranges);
    if (expected === 0) {
      return await use({ appId, entries: new Map(topics.map((t) => [t, []])), publisher: noSidecar });
    }

    const collector = new Collector(topics);
    const appApiToken = newToken();
    const daprApiToken = newToken();
    const app = buildToolApp(appId, topics, collector, appApiToken);
    const appPort = await freePort();
    await app.listen({ host: "127.0.0.1", port: appPort });
    let sidecar: Sidecar | undefined;
    // The sidecar's log is kept when reading or publishing failed; a selection the operator got wrong is no such failure.
    let keepLog = true;
    try {
      log(`reading ${expected} record(s) from ${topics.join(", ")} as ${appId}`);
      sidecar = await sidecarFor(stack, appId, appPort, { appApiToken, daprApiToken });
      const started = sidecar;
      await waitUntil(`${appId} to read ${topics.join(", ")} to their end offsets`, () => readToEnd(admin, appId, ranges), {
        timeoutMs: opts.timeoutMs ?? 60_000,
        intervalMs: 250,
        process: started.process,
      });
      try {
        const result = await use({
          appId,
          entries: new Map(topics.map((t) => [t, collector.entries(t)])),
          publisher: createDaprPublisher({ daprHost: "127.0.0.1", daprPort: started.httpPort, apiToken: daprApiToken }),
        });
        keepLog = false;
        return result;
      } catch (err) {
        keepLog = !(err instanceof ReplayError);
        throw err;
      }
    } finally {
      await sidecar?.stop();
      await app.close();
      await deleteGroup(admin, appId, log);
      if (sidecar && !keepLog) rmSync(sidecar.process.logFile, { force: true });
      else if (sidecar) log(`the tool's sidecar log: ${sidecar.process.logFile}`);
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};
