/**
 * `npm run load -- --rate R --duration D --scenario steady|burst|consumer-down [--users N]`
 *
 * Starts its own stack (Kafka, scheduler, Cosmos server, every function with
 * its daprd) in .data/load, drives task-api with writes from many users
 * (creates, some with reminders or a daily recurrence; updates; completions),
 * samples consumer lag, then reconciles every acknowledged write against its
 * effects: audit entries, next occurrences, webhook reminders. Prints a table
 * and writes the report as JSON to .data/load/reports/.
 *
 * Traffic stays on loopback and is bounded by the rate, the duration and 128
 * requests in flight.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { z } from "zod";
import { mintToken } from "../../functions/task-api/auth.ts";
import { LagMonitor, loadScalers } from "../../functions/lag-dashboard/monitor.ts";
import { OffsetReader } from "../../functions/lag-dashboard/offsets.ts";
import { Service } from "../../shared/catalog/names.ts";
import { AUDIT_CONTAINER, openCosmosDatabase } from "../../shared/cosmos.ts";
import { createLogger } from "../../shared/logger.ts";
import { startFunction, type RunningFunction } from "../stack/functions.ts";
import { repoRoot } from "../stack/paths.ts";
import { startStack } from "../stack/stack.ts";
import { formatReport, percentile, type LoadReport } from "./report.ts";

const Args = z.object({
  rate: z.coerce.number().positive().max(500).default(20),
  duration: z.coerce.number().int().min(5).max(1_800).default(60),
  scenario: z.enum(["steady", "burst", "consumer-down"]).default("steady"),
  users: z.coerce.number().int().min(1).max(10_000).default(50),
});
const { values } = parseArgs({
  options: { rate: { type: "string" }, duration: { type: "string" }, scenario: { type: "string" }, users: { type: "string" } },
});
const args = Args.parse(values);
const MAX_IN_FLIGHT = 128;
const say = (line: string) => process.stdout.write(`[load] ${line}\n`);

type Kind = "create" | "update" | "complete";
interface Write {
  kind: Kind;
  user: string;
  taskId?: string;
  status: number;
  latencyMs: number;
  ackAt: number;
}
interface KnownTask {
  id: string;
  user: string;
  recurring: boolean;
  reminderAt?: number;
  completed: boolean;
  updates: number;
}

/** The rate at second `t` of the run: steady, or a burst at 3× for the first fifth then ½×. */
const rateAt = (t: number): number =>
  args.scenario === "burst" ? (t < args.duration / 5 ? args.rate * 3 : args.rate / 2) : args.rate;

const main = async () => {
  const secret = randomUUID() + randomUUID();
  const stack = await startStack({ dataDir: join(repoRoot, ".data/load"), ports: "free", fresh: true, log: say });
  const running = new Map<string, RunningFunction>();
  const webhook = Fastify();
  const reminderPosts = new Map<string, number>();
  webhook.post("/hook", async (request, reply) => {
    const { taskId } = request.body as { taskId: string };
    reminderPosts.set(taskId, (reminderPosts.get(taskId) ?? 0) + 1);
    return reply.code(204).send();
  });
  await webhook.listen({ host: "127.0.0.1", port: 0 });
  const address = webhook.server.address();
  const webhookUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;
  const envOf = (name: string): Record<string, string> =>
    name === Service.TaskApi ? { AUTH_JWT_SECRET: secret } : name === Service.NotificationService ? { NOTIFY_WEBHOOK_URL: webhookUrl } : {};
  const start = async (name: string) => running.set(name, await startFunction(stack, name, { env: envOf(name) }));
  const reader = new OffsetReader(stack.kafkaBrokers);
  const monitor = new LagMonitor(reader, loadScalers(join(repoRoot, "keda")), createLogger("load", "silent"));

  try {
    await Promise.all([Service.TaskApi, Service.AuditService, Service.NotificationService, Service.RecurringTaskService].map(start));
    const api = `http://127.0.0.1:${running.get(Service.TaskApi)!.appPort}`;
    const users = Array.from({ length: args.users }, (_, i) => `load-user-${i}`);
    const tokens = new Map(await Promise.all(users.map(async (u) => [u, await mintToken(secret, u)] as const)));
    say(`stack ready; driving ${args.scenario} load at ${args.rate} writes/s for ${args.duration} s from ${args.users} users`);

    const writes: Write[] = [];
    const tasks: KnownTask[] = [];
    const open = () => tasks.filter((t) => !t.completed);
    let inFlight = 0;
    let skipped = 0;
    const send = async (kind: Kind, user: string, path: string, method: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
      const started = performance.now();
      let status = 0;
      let json: unknown;
      try {
        const res = await fetch(`${api}${path}`, {
          method,
          headers: { authorization: `Bearer ${tokens.get(user)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(30_000),
        });
        status = res.status;
        json = await res.json().catch(() => undefined);
      } catch {
        status = 0; // network error or time-out
      }
      writes.push({ kind, user, status, latencyMs: performance.now() - started, ackAt: Date.now(), ...(typeof json === "object" && json && "id" in json ? { taskId: String((json as { id: string }).id) } : {}) });
      return { status, json };
    };

    const one = async () => {
      const roll = Math.random();
      const candidates = open();
      if (roll < 0.55 || candidates.length < 10) {
        const user = users[Math.floor(Math.random() * users.length)]!;
        const withReminder = Math.random() < 0.2;
        const recurring = !withReminder && Math.random() < 0.15;
        const reminderAt = Date.now() + 2_000 + Math.random() * 8_000;
        const body = {
          title: `load task ${randomUUID().slice(0, 8)}`,
          priority: (["low", "medium", "high"] as const)[Math.floor(Math.random() * 3)],
          tags: ["load"],
          ...(withReminder ? { reminder: { remindAt: new Date(reminderAt).toISOString() } } : {}),
          ...(recurring ? { dueAt: new Date(Date.now() + 86_400_000).toISOString(), recurrence: { frequency: "daily" } } : {}),
        };
        const { status, json } = await send("create", user, "/tasks", "POST", body);
        if (status === 201) {
          tasks.push({ id: (json as { id: string }).id, user, recurring, completed: false, updates: 0, ...(withReminder ? { reminderAt } : {}) });
        }
        return;
      }
      const task = candidates[Math.floor(Math.random() * candidates.length)]!;
      if (roll < 0.8) {
        // Always a real change, even for two updates of one task in flight at once: an update that
        // changes nothing is answered 200 and publishes nothing.
        task.updates++;
        const { status } = await send("update", task.user, `/tasks/${task.id}`, "PATCH", {
          description: `revision ${randomUUID()}`,
          progress: Math.floor(Math.random() * 101),
        });
        if (status !== 200) task.updates--;
      } else {
        task.completed = true;
        const { status } = await send("complete", task.user, `/tasks/${task.id}/complete`, "POST");
        if (status !== 200) task.completed = false;
      }
    };

    const started = Date.now();
    const pending = new Set<Promise<void>>();
    let sampling = true;
    const maxLag = new Map<string, number>();
    const sampler = (async () => {
      while (sampling) {
        const snap = await monitor.sample().catch(() => undefined);
        for (const c of snap?.consumers ?? []) maxLag.set(c.service, Math.max(maxLag.get(c.service) ?? 0, c.totalLag));
        await sleep(1_000);
      }
    })();
    const stopped = new Set<string>();
    for (let next = started; Date.now() - started < args.duration * 1000; ) {
      const t = (Date.now() - started) / 1000;
      if (args.scenario === "consumer-down") {
        const down = t >= args.duration / 3 && t < (2 * args.duration) / 3;
        for (const name of [Service.AuditService, Service.NotificationService]) {
          if (down && !stopped.has(name)) {
            stopped.add(name);
            say(`t=${t.toFixed(0)} s: stopping ${name} and its sidecar (scaled to zero)`);
            void running.get(name)!.stop();
          } else if (!down && stopped.has(name) && t >= (2 * args.duration) / 3) {
            stopped.delete(name);
            say(`t=${t.toFixed(0)} s: starting ${name} again`);
            void start(name);
          }
        }
      }
      next += 1000 / rateAt(t);
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        continue;
      }
      inFlight++;
      const p = one().finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    await Promise.all(pending);
    const loadEnded = Date.now();
    for (const name of stopped) await start(name);
    say(`load done: ${writes.length} writes in ${((loadEnded - started) / 1000).toFixed(1)} s; waiting for consumers to drain`);

    // Drain: every consumer's lag at zero, and the effects settled (the outbox may still be publishing).
    const drainS = new Map<string, number | null>();
    const drainDeadline = loadEnded + 180_000;
    while (Date.now() < drainDeadline) {
      const snap = await monitor.sample();
      for (const c of snap.consumers) {
        if (c.totalLag === 0 && !drainS.has(c.service)) drainS.set(c.service, (Date.now() - loadEnded) / 1000);
        if (c.totalLag > 0) drainS.delete(c.service);
      }
      if (snap.consumers.every((c) => drainS.has(c.service)) && Date.now() - loadEnded > 5_000) break;
      await sleep(500);
    }
    // Reminders still to come due.
    const lastReminder = Math.max(0, ...tasks.map((t) => t.reminderAt ?? 0));
    if (lastReminder > Date.now()) await sleep(lastReminder - Date.now());

    // Reconcile, until nothing is missing or 90 s have passed: effects trail the writes (outbox,
    // consumer lag, reminder jobs), so a missing effect counts as lost only after that.
    const database = await openCosmosDatabase({
      COSMOS_ENDPOINT: stack.cosmosEndpoint,
      COSMOS_KEY: stack.cosmosKey,
      COSMOS_DATABASE: "taskapp",
      COSMOS_ALLOW_SELF_SIGNED: true,
    });
    const audit = database.container(AUDIT_CONTAINER.id ?? "audit");
    const count = <T>(items: T[], key: (t: T) => string) => {
      const m = new Map<string, number>();
      for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
      return m;
    };
    const tally = (pairs: [number, number][]) => ({
      expected: pairs.reduce((s, [e]) => s + e, 0),
      found: pairs.reduce((s, [, f]) => s + f, 0),
      lost: pairs.reduce((s, [e, f]) => s + Math.max(0, e - f), 0),
      duplicated: pairs.reduce((s, [e, f]) => s + Math.max(0, f - e), 0),
    });
    const reconcile = async () => {
      const { resources: entries } = await audit.items
        .query<{ id: string; taskId: string; type: string; recordedAt: string }>("SELECT c.id, c.taskId, c.type, c.recordedAt FROM c")
        .fetchAll();
      const { resources: occurrences } = await database
        .container("tasks")
        .items.query<{ seriesId: string; occurrence: number }>("SELECT c.seriesId, c.occurrence FROM c WHERE IS_DEFINED(c.seriesId)")
        .fetchAll();
      const found = count(entries, (e) => `${e.taskId} ${e.type}`);
      const auditExpectations = tasks.flatMap((t): [string, number][] => [
        [`${t.id} task.created.v1`, 1],
        [`${t.id} task.updated.v1`, t.updates],
        [`${t.id} task.completed.v1`, t.completed ? 1 : 0],
      ]);
      const nextBySeries = count(occurrences.filter((o) => o.occurrence === 2), (o) => o.seriesId);
      // Reminders of tasks never completed must arrive exactly once (a completion races its reminder).
      const effects = {
        auditEntries: tally(auditExpectations.map(([key, expected]): [number, number] => [expected, found.get(key) ?? 0])),
        nextOccurrences: tally(tasks.filter((t) => t.recurring).map((t): [number, number] => [t.completed ? 1 : 0, nextBySeries.get(t.id) ?? 0])),
        reminders: tally(tasks.filter((t) => t.reminderAt !== undefined && !t.completed).map((t): [number, number] => [1, reminderPosts.get(t.id) ?? 0])),
      };
      const mismatches = auditExpectations
        .filter(([key, expected]) => (found.get(key) ?? 0) !== expected)
        .map(([key, expected]) => `${key}: expected ${expected}, found ${found.get(key) ?? 0}`);
      return { entries, effects, mismatches };
    };
    const settleStarted = Date.now();
    let result = await reconcile();
    while (Object.values(result.effects).some((e) => e.lost > 0) && Date.now() - settleStarted < 90_000) {
      await sleep(1_000);
      result = await reconcile();
    }
    await sleep(3_000); // duplicates, if any, would arrive after the originals
    result = await reconcile();
    const settledS = (Date.now() - settleStarted - 3_000) / 1000;
    sampling = false;
    await sampler;
    const { entries, effects, mismatches } = result;

    const acked = new Map(writes.filter((w) => w.status >= 200 && w.status < 300 && w.taskId).map((w) => [`${w.taskId} ${w.kind}`, w.ackAt]));
    const auditLatency = entries
      .map((e) => {
        const kind = e.type === "task.created.v1" ? "create" : e.type === "task.completed.v1" ? "complete" : undefined;
        const ackAt = kind && acked.get(`${e.taskId} ${kind}`);
        return ackAt ? Date.parse(e.recordedAt) - ackAt : undefined;
      })
      .filter((v): v is number => v !== undefined);
    const latencies = writes.map((w) => w.latencyMs);
    const errors = count(writes.filter((w) => w.status < 200 || w.status >= 300), (w) => (w.status === 0 ? "network" : String(w.status)));
    const report: LoadReport = {
      scenario: args.scenario,
      startedAt: new Date(started).toISOString(),
      durationS: args.duration,
      targetRate: args.rate,
      users: args.users,
      writes: {
        attempted: writes.length,
        acknowledged: writes.filter((w) => w.status >= 200 && w.status < 300).length,
        achievedRate: writes.length / ((loadEnded - started) / 1000),
        errorsByStatus: Object.fromEntries(errors),
      },
      httpLatencyMs: {
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: Math.max(...latencies),
      },
      writeToAuditMs: { p50: percentile(auditLatency, 50), p99: percentile(auditLatency, 99), samples: auditLatency.length },
      consumers: Object.fromEntries(
        monitor.scalers.map((s) => [s.target, { maxLag: maxLag.get(s.target) ?? 0, drainS: drainS.get(s.target) ?? null }]),
      ),
      effects,
      notes: [
        ...(skipped > 0 ? [`${skipped} writes not sent: ${MAX_IN_FLIGHT} already in flight (the client, not the server, was the limit)`] : []),
        `effects checked ${settledS.toFixed(1)} s after the last reminder came due`,
        ...mismatches.slice(0, 20).map((m) => `audit mismatch ${m}`),
      ],
    };
    const dir = join(repoRoot, ".data/load/reports");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${args.scenario}-${report.startedAt.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\n${formatReport(report)}\n\nreport: ${file}\n`);
  } finally {
    await Promise.all([...running.values()].map((f) => f.stop().catch(() => undefined)));
    await reader.close().catch(() => undefined);
    await webhook.close();
    await stack.stop();
  }
};

main().catch((err: unknown) => {
  process.stderr.write(`load failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
