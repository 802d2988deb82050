/**
 * One load run on a running LoadSession: warm-up, the measured traffic, the
 * drain, the reconciliation, and the report. The CLI (run.ts), the benchmarks
 * and the fault runs all go through here.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { TaskCompleted, TaskCreated } from "../../shared/catalog/events.ts";
import { Service } from "../../shared/catalog/names.ts";
import { requestUnitsOf, statsSince } from "../stack/cosmos-cost.ts";
import { EffectReader, reconcileSettled } from "./reconcile.ts";
import { percentile, type LoadReport } from "./report.ts";
import type { LoadSession } from "./session.ts";
import { closedLoop, isAcknowledged, isRefusal, openLoop, TaskTraffic, type DriveResult, type WriteRecord } from "./traffic.ts";

export const SCENARIOS = ["steady", "burst", "consumer-down"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface LoadPlan {
  scenario: Scenario;
  /** open: a fixed arrival rate; closed: `clients` clients one write at a time. */
  mode: "open" | "closed";
  rate: number;
  clients: number;
  durationS: number;
  warmupS: number;
  users: number;
  /** Open loop: writes outstanding at most before the driver holds back (a shortfall it reports). */
  maxInFlight: number;
  /** Open loop: the rate at each second of the measured window, instead of the scenario's. */
  rateAt?: (tS: number) => number;
  /** Called about every 2 ms of the measured window with the seconds since it began. */
  onTick?: (tS: number, session: LoadSession) => void;
  log?: (line: string) => void;
}

export const DEFAULT_PLAN: LoadPlan = {
  scenario: "steady",
  mode: "open",
  rate: 20,
  clients: 32,
  durationS: 60,
  warmupS: 10,
  users: 50,
  maxInFlight: 4_096,
};

/** The rate at second `t`: steady, or a burst at 3× for the first fifth then ½×. */
const rateOf = (plan: LoadPlan) => (t: number) => (plan.scenario === "burst" ? (t < plan.durationS / 5 ? plan.rate * 3 : plan.rate / 2) : plan.rate);

/** Stops audit-service and notification-service for the middle third of the run (scaled to zero), then starts them. */
const consumerDown = (plan: LoadPlan) => {
  const consumers = [Service.AuditService, Service.NotificationService];
  let state: "up" | "down" | "back" = "up";
  return (t: number, session: LoadSession) => {
    if (state === "up" && t >= plan.durationS / 3) {
      state = "down";
      plan.log?.(`t=${t.toFixed(0)} s: stopping ${consumers.join(" and ")} with their sidecars (scaled to zero)`);
      for (const name of consumers) void session.stopFunction(name);
    } else if (state === "down" && t >= (2 * plan.durationS) / 3) {
      state = "back";
      plan.log?.(`t=${t.toFixed(0)} s: starting them again`);
      for (const name of consumers) void session.startFunction(name);
    }
  };
};

export const runLoad = async (session: LoadSession, plan: LoadPlan): Promise<LoadReport> => (await runLoadWith(session, plan)).report;

/** A load run's report, with the traffic it drove and its users' prefix, for a fault run to check further. */
export interface LoadRun {
  report: LoadReport;
  traffic: TaskTraffic;
  userPrefix: string;
  reader: EffectReader;
}

export const runLoadWith = async (session: LoadSession, plan: LoadPlan): Promise<LoadRun> => {
  const log = plan.log ?? (() => undefined);
  const userPrefix = `load-${randomUUID().slice(0, 8)}`;
  const traffic = new TaskTraffic(() => session.api, await session.users(userPrefix, plan.users));
  const drive = (durationS: number, onTick?: (t: number) => void): Promise<DriveResult> =>
    plan.mode === "open"
      ? openLoop(traffic, { rate: plan.rateAt ?? rateOf(plan), durationS, maxInFlight: plan.maxInFlight, ...(onTick ? { onTick } : {}) })
      : closedLoop(traffic, { clients: plan.clients, durationS });

  if (plan.warmupS > 0) {
    log(`warming up for ${plan.warmupS} s (JIT, connections, consumer groups)`);
    await (plan.mode === "open"
      ? openLoop(traffic, { rate: () => Math.min(plan.rate, 100), durationS: plan.warmupS, maxInFlight: plan.maxInFlight })
      : closedLoop(traffic, { clients: Math.min(plan.clients, 8), durationS: plan.warmupS }));
    await waitForDrain(session, 30_000);
  }

  const lagBefore = new Map((await session.lag()).map((c) => [c.service, c]));
  const cosmosBefore = await session.cosmosStats();
  session.cpu.begin();
  const driverCpuBefore = process.cpuUsage();
  traffic.measuring = true;
  log(`measuring: ${plan.mode === "open" ? `${plan.rate} writes/s offered` : `${plan.clients} clients`}, ${plan.scenario}, for ${plan.durationS} s`);

  const maxLag = new Map<string, number>();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const c of await session.lag().catch(() => [])) maxLag.set(c.service, Math.max(maxLag.get(c.service) ?? 0, c.lag));
      await sleep(1_000);
    }
  })();
  const scenarioTick = plan.scenario === "consumer-down" ? consumerDown(plan) : undefined;
  let lastPoll = 0;
  const result = await drive(plan.durationS, (t) => {
    scenarioTick?.(t, session);
    plan.onTick?.(t, session);
    if (t - lastPoll >= 1) {
      lastPoll = t;
      session.cpu.poll(); // processes restarted meanwhile count too
    }
  });
  traffic.measuring = false;
  const loadEnded = Date.now();
  for (const name of session.missingFunctions()) await session.startFunction(name);
  log(`load done: ${result.sent} writes sent in ${result.elapsedS.toFixed(1)} s; waiting for the consumers to drain`);

  const drainS = await waitForDrain(session, 180_000, loadEnded);
  const cpu = session.cpu.read();
  const driverCpu = process.cpuUsage(driverCpuBefore);
  const cosmos = statsSince(cosmosBefore, await session.cosmosStats());
  sampling = false;
  await sampler;

  const lastReminder = Math.max(0, ...traffic.tasks.map((t) => t.reminderAt ?? 0));
  if (lastReminder > Date.now()) {
    log(`waiting ${((lastReminder - Date.now()) / 1000).toFixed(0)} s for the last reminder to come due`);
    await sleep(lastReminder - Date.now());
  }
  const reader = await EffectReader.open({ endpoint: session.stack.cosmosEndpoint, key: session.stack.cosmosKey });
  const reconciliation = await reconcileSettled({ tasks: traffic.tasks, userPrefix }, session.receiver.posts, reader, {
    settleMs: 90_000,
    quietMs: 3_000,
  });
  const lagAfter = await session.lag();

  const measured = traffic.writes.filter((w) => w.measured);
  const acked = measured.filter((w) => isAcknowledged(w.status));
  const refused = measured.filter((w) => isRefusal(w.status));
  const failed = measured.filter((w) => !isAcknowledged(w.status) && !isRefusal(w.status));
  const perWrite = (n: number) => (acked.length > 0 ? n / acked.length : Number.NaN);
  const cpuMsPerWrite: Record<string, number> = Object.fromEntries(
    Object.entries(cpu)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, seconds]) => [name, perWrite(seconds * 1000)]),
  );
  cpuMsPerWrite["load driver"] = perWrite((driverCpu.user + driverCpu.system) / 1000);

  const notes: string[] = [];
  if (result.sent < result.offered) {
    notes.push(`${result.offered - result.sent} writes not sent: ${plan.maxInFlight} were already outstanding (task-api answered slower than they arrived)`);
  }
  // In a fault run the refusals are the fault's (its report counts them): no word on capacity.
  if (plan.mode === "open" && !plan.onTick && acked.length / result.elapsedS < plan.rate * 0.95 && refused.length > 0) {
    notes.push(`task-api refused ${refused.length} writes to keep its latency: the offered rate is above what this machine sustains`);
  }
  notes.push(`effects settled ${reconciliation.settledS.toFixed(1)} s after the last reminder came due`);
  notes.push(...reconciliation.mismatches.map((m) => `mismatch ${m}`));

  const report: LoadReport = {
    scenario: plan.scenario,
    mode: plan.mode,
    startedAt: new Date(loadEnded - result.elapsedS * 1000).toISOString(),
    durationS: plan.durationS,
    warmupS: plan.warmupS,
    offered: plan.mode === "open" ? `${plan.rate} writes/s` : `${plan.clients} clients`,
    users: plan.users,
    writes: {
      offered: result.offered,
      sent: result.sent,
      acknowledged: acked.length,
      achievedRate: acked.length / result.elapsedS,
      refusedByStatus: countBy(refused, (w) => String(w.status)),
      refusedWithoutRetryAfter: refused.filter((w) => !w.retryAfter).length,
      errorsByStatus: countBy(failed, (w) => (w.status === 0 ? "network" : String(w.status))),
    },
    httpLatencyMs: latencyOf(acked),
    writeToAuditMs: await writeToAudit(acked, reader),
    consumers: Object.fromEntries(
      lagAfter.map((c) => [
        c.service,
        {
          maxLag: maxLag.get(c.service) ?? 0,
          drainS: drainS.get(c.service) ?? null,
          deadLettersCreated: c.deadLetters - (lagBefore.get(c.service)?.deadLetters ?? 0),
        },
      ]),
    ),
    effects: reconciliation.effects,
    unexplainedTasks: reconciliation.unexplainedTasks,
    cpuMsPerWrite,
    cosmosPerWrite: {
      requests: perWrite(cosmos.requests),
      operations: Object.fromEntries(Object.entries(cosmos.operations).map(([op, c]) => [op, perWrite(c.count)])),
      requestUnits: perWrite(requestUnitsOf(cosmos)),
    },
    notes,
  };
  return { report, traffic, userPrefix, reader };
};

const countBy = <T>(items: T[], key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

const latencyOf = (writes: WriteRecord[]) => {
  const latencies = writes.map((w) => w.latencyMs);
  return {
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies.length ? Math.max(...latencies) : Number.NaN,
  };
};

/** From a create's or completion's acknowledgement to its audit entry being written. */
const writeToAudit = async (acked: WriteRecord[], reader: EffectReader) => {
  const ackAt = new Map(acked.filter((w) => w.kind !== "update").map((w) => [`${w.taskId} ${w.kind}`, w.ackAt]));
  const kindOf: Record<string, string> = { [TaskCreated.type]: "create", [TaskCompleted.type]: "complete" };
  const samples = (await reader.auditEntries())
    .map((e) => {
      const at = kindOf[e.type] && ackAt.get(`${e.taskId} ${kindOf[e.type]}`);
      return at ? Date.parse(e.recordedAt) - at : undefined;
    })
    .filter((v): v is number => v !== undefined);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), samples: samples.length };
};

/** Waits until every consumer's lag is 0 (or the time-out); seconds from `since` to each one's drain. */
const waitForDrain = async (session: LoadSession, timeoutMs: number, since = Date.now()): Promise<Map<string, number>> => {
  const drained = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lag = await session.lag().catch(() => []);
    for (const c of lag) {
      if (c.lag === 0 && !drained.has(c.service)) drained.set(c.service, (Date.now() - since) / 1000);
      if (c.lag > 0) drained.delete(c.service);
    }
    if (lag.length > 0 && lag.every((c) => drained.has(c.service))) break;
    await sleep(250);
  }
  return drained;
};
