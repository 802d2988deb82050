/**
 * Scale from zero, measured: from the moment lag appears on a consumer's topic to the first event
 * that consumer handles, with its parts, on the autoscaled local mode (real KEDA, real Kafka, real
 * daprd; polling every second as deploy/overlays/local sets it):
 *
 *   KEDA polling      lag visible in Kafka → KEDA has set the Deployment's replicas to 1 (its log)
 *   replicas set      → the replica runner (the kubelet here) sees the new count (its watch)
 *   process start     → the consumer's process answers its health check
 *   sidecar + join    → its daprd has started, loaded the Kafka component and joined the group
 *                       (the group has a member; daprd joins a little before its own health
 *                       check passes, reported beside as `sidecarHealthy`)
 *   first delivery    → the event's effect is visible (audit-service's entry, read through task-api)
 *
 * The parts add up to the total.
 *
 * A write to task-api is the burst: its task.created lands on task-events and audit-service, at
 * zero, is woken for it. Each round waits for every consumer to be back at zero first.
 *
 * Alone: `node --import tsx tools/bench/scale-from-zero.ts [--rounds 3]`; from another runner:
 * `measureScaleFromZero()`.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { mintToken } from "../../functions/task-api/auth.ts";
import { CONSUMERS, KUBERNETES_NAMESPACE, Service, Topic } from "../../shared/catalog/names.ts";
import { routePath, TaskApiRoute } from "../../shared/catalog/routes.ts";
import { KafkaReader, plainKafkaAccess } from "../../shared/kafka.ts";
import { startAutoscaling, type Autoscaling } from "../stack/autoscale.ts";
import { startFunction } from "../stack/functions.ts";
import { repoRoot } from "../stack/paths.ts";
import { waitUntil } from "../stack/process.ts";
import type { ReplicaEvent } from "../stack/replicas.ts";
import { startStack } from "../stack/stack.ts";

/** One scale from zero, in milliseconds from the moment the lag appeared. */
export interface ScaleFromZeroRound {
  kedaPolling: number;
  replicasSet: number;
  processStart: number;
  sidecarAndGroupJoin: number;
  firstDelivery: number;
  /** Lag appears → first event handled: the sum of the parts above. */
  total: number;
  /** Beside the chain: process healthy → its daprd healthy. */
  sidecarHealthy: number;
}

export interface ScaleFromZeroFigures {
  consumer: string;
  pollingIntervalSeconds: number;
  rounds: ScaleFromZeroRound[];
  median: ScaleFromZeroRound;
}

const PARTS: (keyof ScaleFromZeroRound)[] = ["kedaPolling", "replicasSet", "processStart", "sidecarAndGroupJoin", "firstDelivery", "total", "sidecarHealthy"];
const CONSUMER = Service.AuditService;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The first time `check` holds, polled every `everyMs` (for instants, not for waiting). */
const firstTime = async (check: () => Promise<boolean>, what: string, everyMs = 10, timeoutMs = 60_000): Promise<number> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
};

const Deployment = z.object({ spec: z.object({ replicas: z.number() }) });

const ScaleLine = z.object({
  ts: z.string(),
  msg: z.string(),
  "scaledobject.Name": z.string().optional(),
  "Original Replicas Count": z.number().optional(),
});

/** When KEDA's operator scaled `name` up from zero after `since`, from its own log. */
const kedaScaledFromZero = (logFile: string, name: string, since: number): number | undefined => {
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes("Successfully updated ScaleTarget")) continue;
    const parsed = ScaleLine.safeParse(JSON.parse(line));
    if (!parsed.success || parsed.data["scaledobject.Name"] !== name || parsed.data["Original Replicas Count"] !== 0) continue;
    const at = Date.parse(parsed.data.ts);
    if (at >= since) return at;
  }
  return undefined;
};

const allAtZero = (autoscaling: Autoscaling) =>
  waitUntil(
    "every consumer back at zero",
    async () => {
      for (const service of CONSUMERS) {
        const d = Deployment.parse(await autoscaling.controlPlane.api.get(`/apis/apps/v1/namespaces/${KUBERNETES_NAMESPACE}/deployments/${service}`));
        if (d.spec.replicas !== 0 || autoscaling.runner.running(service).replicas !== 0) return false;
      }
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );

/** Starts its own stack and control plane on free ports, measures `rounds` scale-ups, stops everything. */
export const measureScaleFromZero = async (opts: { rounds?: number; log?: (line: string) => void } = {}): Promise<ScaleFromZeroFigures> => {
  const rounds = opts.rounds ?? 3;
  const log = opts.log ?? (() => undefined);
  const dataDir = join(repoRoot, ".data/bench/scale-from-zero");
  const stack = await startStack({ dataDir, ports: "free", fresh: true, log });
  const secret = `${randomUUID()}${randomUUID()}`;
  const events: ReplicaEvent[] = [];
  let autoscaling: Autoscaling | undefined;
  const kafka = new KafkaReader(plainKafkaAccess(stack.kafkaBrokers), "bench-scale-from-zero");
  try {
    autoscaling = await startAutoscaling(stack, {
      dir: join(dataDir, "control-plane"),
      secrets: { jwtSecret: secret, appToken: randomUUID() },
      onEvent: (e) => events.push(e),
      log,
    });
    const taskApi = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret } });
    const operatorLog = autoscaling.controlPlane.processes.find((p) => p.name === "keda-operator")?.logFile;
    if (!operatorLog) throw new Error("the control plane runs no KEDA operator");
    const token = await mintToken(secret, "bench");
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${taskApi.publicPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const measured: ScaleFromZeroRound[] = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        await allAtZero(autoscaling);
        const seen = events.length;
        const endBefore = await kafka.endOffsetTotal(Topic.TaskEvents);
        const res = await api("POST", TaskApiRoute.Tasks, { title: `scale from zero ${round}` });
        if (res.status !== 201) throw new Error(`task-api answered ${res.status}`);
        const { id } = (await res.json()) as { id: string };
        // Lag appears when task-api's outbox has put the event on the topic.
        const lagAt = await firstTime(async () => (await kafka.endOffsetTotal(Topic.TaskEvents)) > endBefore, "the event on task-events", 5);
        const [joinedAt, handledAt] = await Promise.all([
          firstTime(
            async () => {
              const [group] = await kafka.groups([{ group: CONSUMER, topics: [] }]);
              return (group?.members ?? 0) > 0;
            },
            `a member in group ${CONSUMER}`,
            20,
          ),
          firstTime(
            async () => {
              const history = (await (await api("GET", routePath(TaskApiRoute.TaskHistory, { id }))).json()) as { entries?: unknown[] };
              return (history.entries?.length ?? 0) > 0;
            },
            "the audit entry",
            20,
          ),
        ]);
        const mine = events.slice(seen).filter((e) => e.service === CONSUMER);
        const at = (kind: ReplicaEvent["kind"]) => {
          const found = mine.find((e) => e.kind === kind && (e.kind !== "desired" || e.replicas > 0));
          if (!found) throw new Error(`round ${round}: no ${kind} event for ${CONSUMER}`);
          return found.at;
        };
        const askedAt = at("desired");
        // Clocks are the same machine's: KEDA's log line and this process's Date.now().
        const scaledAt = kedaScaledFromZero(operatorLog, CONSUMER, lagAt - 1_000) ?? askedAt;
        const appAt = at("app-ready");
        const sidecarAt = at("sidecar-ready");
        const figures: ScaleFromZeroRound = {
          kedaPolling: scaledAt - lagAt,
          replicasSet: askedAt - scaledAt,
          processStart: appAt - askedAt,
          sidecarAndGroupJoin: joinedAt - appAt,
          firstDelivery: handledAt - joinedAt,
          total: handledAt - lagAt,
          sidecarHealthy: sidecarAt - appAt,
        };
        measured.push(figures);
        log(`round ${round}: ${PARTS.map((p) => `${p} ${figures[p]} ms`).join(", ")}`);
      }
    } finally {
      await taskApi.stop();
    }
    return {
      consumer: CONSUMER,
      pollingIntervalSeconds: 1,
      rounds: measured,
      median: Object.fromEntries(PARTS.map((p) => [p, median(measured.map((r) => r[p]))])) as unknown as ScaleFromZeroRound,
    };
  } finally {
    await kafka.close();
    await autoscaling?.stop();
    await stack.stop();
  }
};

const runAlone = async () => {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
  const figures = await measureScaleFromZero({ rounds: Number(values.rounds), log: (l) => process.stderr.write(`${l}\n`) });
  const rows: [string, string][] = [
    ["KEDA polling (lag in Kafka → KEDA scales)", "kedaPolling"],
    ["replicas set (→ the runner sees them)", "replicasSet"],
    ["process start (→ app healthy)", "processStart"],
    ["sidecar start + group join (→ a member)", "sidecarAndGroupJoin"],
    ["first delivery (→ effect visible)", "firstDelivery"],
    ["lag appears → first event handled", "total"],
    ["(beside: app healthy → daprd healthy)", "sidecarHealthy"],
  ].map(([label, key]) => [label!, `${figures.median[key as keyof ScaleFromZeroRound]} ms`.padStart(9)] as [string, string]);
  process.stdout.write(`scale from zero, ${figures.consumer}, polling every ${figures.pollingIntervalSeconds} s, median of ${figures.rounds.length}:\n`);
  for (const [label, value] of rows) process.stdout.write(`  ${label.padEnd(44)} ${value}\n`);
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runAlone().catch((err: unknown) => {
    process.stderr.write(`scale-from-zero bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
