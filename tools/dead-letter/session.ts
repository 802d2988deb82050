/**
 * One run of the tool as a short-lived Dapr app: its app-id is its consumer group, new for the
 * run (a unique id beside a sidecar of its own; in a pod the pod's, whose group is removed before
 * and after each run), so the pub/sub's `initialOffset: oldest` reads every dead-letter topic from
 * its beginning without touching any other group. A real daprd delivers the records; the Kafka
 * reader (shared/kafka.ts) tells when everything up to the topics' end offsets has arrived.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { DeadLetterEntry } from "../../shared/catalog/dead-letter.ts";
import { DEAD_LETTER_TOOL, DEAD_LETTERS_ACKNOWLEDGED } from "../../shared/catalog/names.ts";
import { createDaprPublisher, type Publisher } from "../../shared/host/publisher.ts";
import { callSidecar, type SidecarAddress } from "../../shared/host/sidecar.ts";
import { KafkaReader, type PartitionBounds } from "../../shared/kafka.ts";
import { startSidecar, type Sidecar } from "../stack/dapr.ts";
import { newToken } from "../stack/functions.ts";
import { freePort, waitUntil } from "../stack/process.ts";
import { buildToolApp, Collector, toolFunction } from "./app.ts";
import { ReplayError } from "./records.ts";
import type { OwnSidecar, PodSidecar, Target } from "./target.ts";

/** A run with a sidecar of its own has an app-id (and consumer group) of its own; in a pod it is the pod's, DEAD_LETTER_TOOL. */
export const newToolAppId = (): string => `${DEAD_LETTER_TOOL}-${randomBytes(4).toString("hex")}`;

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
  /** Marks everything the run read of `topic` as dealt with (the DEAD_LETTERS_ACKNOWLEDGED bookmark). */
  acknowledge(topic: string): Promise<void>;
}

type Ranges = Map<string, Map<number, PartitionBounds>>;

/** The offsets each topic's partitions hold now. */
const topicRanges = async (reader: KafkaReader, topics: readonly string[]): Promise<Ranges> => {
  const existing = new Set(await reader.topics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length > 0) throw new Error(`no such topic: ${missing.join(", ")} (every dead-letter topic is created with the others: allTopics())`);
  return reader.bounds(topics);
};

const recordCount = (ranges: Ranges): number =>
  [...ranges.values()].flatMap((partitions) => [...partitions.values()]).reduce((n, b) => n + (b.end - b.start), 0);

/**
 * True once the group's committed offsets reached `ranges`' ends: daprd commits a record's offset
 * only after the app answered it, so everything before the end offsets has been received. (Dapr's
 * per-record metadata cannot tell positions: a record Dapr forwarded carries the original
 * record's position headers.)
 */
const readToEnd = async (reader: KafkaReader, groupId: string, ranges: Ranges): Promise<boolean> => {
  const committed = await reader.committed(groupId, [...ranges.keys()]);
  for (const [topic, partitions] of ranges) {
    for (const [partition, { start, end }] of partitions) {
      if (end <= start) continue;
      const offset = committed.get(topic)?.get(partition);
      if (offset === undefined || offset < end) return false;
    }
  }
  return true;
};

const noSidecar: Publisher = {
  async publish() {
    throw new Error("nothing was read, so nothing is published");
  },
};

/** The sidecar a run reads through, started or found, and how to end it. */
interface RunSidecar {
  publisher: Publisher;
  /** For waitUntil: fails the wait early when a sidecar of the tool's own has exited. */
  process?: Sidecar["process"];
  stop(): Promise<void>;
  /** Where its log is, when the run failed (a sidecar of the tool's own). */
  logFile?: string;
}

const startOwnSidecar = async (target: OwnSidecar, appId: string, appPort: number, appApiToken: string): Promise<RunSidecar> => {
  const daprApiToken = newToken();
  const sidecar = await startSidecar({
    binary: target.daprd,
    appId,
    appPort,
    resourcesPath: target.resourcesPath,
    configFile: target.configFile,
    schedulerAddress: target.schedulerAddress,
    logFile: join(target.logDir, `daprd-${appId}.log`),
    pidDir: target.pidDir,
    appApiToken,
    daprApiToken,
  });
  return {
    publisher: createDaprPublisher({ daprHost: "127.0.0.1", daprPort: sidecar.httpPort, apiToken: daprApiToken }),
    process: sidecar.process,
    stop: () => sidecar.stop(),
    logFile: sidecar.process.logFile,
  };
};

/**
 * Asks the pod's sidecar to stop (a Job completes only once every container has exited). The
 * sidecar may not be up yet when a run fails early: it is asked again until it answers (30 s).
 */
export const shutdownPodSidecar = async (sidecar: SidecarAddress, log: (line: string) => void): Promise<void> => {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await callSidecar(sidecar, "POST", "/v1.0/shutdown", { timeoutMs: 5_000 });
      if (res.status >= 300) log(`the sidecar refused to shut down (${res.status}): ${res.body}`);
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        log(`the sidecar did not answer the shutdown request: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
};

const podSidecar = async (target: PodSidecar): Promise<RunSidecar> => {
  await waitUntil(
    "the pod's Dapr sidecar",
    async () => (await callSidecar(target.sidecar, "GET", "/v1.0/healthz/outbound", { timeoutMs: 2_000 })).status < 300,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  return { publisher: createDaprPublisher(target.sidecar), stop: async () => undefined };
};

/**
 * Reads `topics` to their end through a sidecar, then runs `use` while the sidecar still runs (a
 * replay publishes through it), then stops the app and the sidecar (in a pod: asks it to shut
 * down) and removes the run's consumer group.
 */
export const withDeadLetters = async <T>(
  target: Target,
  topics: readonly string[],
  opts: SessionOptions,
  use: (session: Session) => Promise<T>,
): Promise<T> => {
  const log = opts.log ?? (() => undefined);
  const appId = target.kind === "pod" ? target.appId : newToolAppId();
  const reader = new KafkaReader(target.kafka, DEAD_LETTER_TOOL);
  let app: FastifyInstance | undefined;
  let sidecar: RunSidecar | undefined;
  // The sidecar's log is kept when reading or publishing failed; a selection the operator got wrong is no such failure.
  let keepLog = true;
  try {
    if (target.kind === "pod" && !(await reader.deleteGroup(appId, 5_000))) {
      throw new Error(`consumer group ${appId} has members: is another run of the tool going on?`);
    }
    const ranges = await topicRanges(reader, topics);
    const acknowledge = (topic: string) =>
      reader.commitOffsets(DEAD_LETTERS_ACKNOWLEDGED, topic, new Map([...(ranges.get(topic) ?? [])].map(([p, b]) => [p, b.end])));
    const expected = recordCount(ranges);
    if (expected === 0) {
      keepLog = false;
      return await use({ appId, entries: new Map(topics.map((t) => [t, []])), publisher: noSidecar, acknowledge });
    }

    const collector = new Collector(topics);
    const appApiToken = target.kind === "pod" ? target.appApiToken : newToken();
    app = await buildToolApp(toolFunction(appId, topics, collector), appApiToken);
    const appPort = target.kind === "pod" ? target.appPort : await freePort();
    await app.listen({ host: target.kind === "pod" ? target.appHost : "127.0.0.1", port: appPort });
    log(`reading ${expected} record(s) from ${topics.join(", ")} as ${appId}`);
    sidecar = target.kind === "pod" ? await podSidecar(target) : await startOwnSidecar(target, appId, appPort, appApiToken);
    await waitUntil(`${appId} to read ${topics.join(", ")} to their end offsets`, () => readToEnd(reader, appId, ranges), {
      timeoutMs: opts.timeoutMs ?? 60_000,
      intervalMs: 250,
      ...(sidecar.process ? { process: sidecar.process } : {}),
    });
    try {
      const result = await use({ appId, entries: new Map(topics.map((t) => [t, collector.entries(t)])), publisher: sidecar.publisher, acknowledge });
      keepLog = false;
      return result;
    } catch (err) {
      keepLog = !(err instanceof ReplayError);
      throw err;
    }
  } finally {
    await sidecar?.stop();
    await app?.close();
    if (target.kind === "pod") await shutdownPodSidecar(target.sidecar, log);
    if (!(await reader.deleteGroup(appId).catch(() => false))) log(`consumer group ${appId} was left behind`);
    await reader.close();
    if (sidecar?.logFile && !keepLog) rmSync(sidecar.logFile, { force: true });
    else if (sidecar?.logFile) log(`the tool's sidecar log: ${sidecar.logFile}`);
  }
};
