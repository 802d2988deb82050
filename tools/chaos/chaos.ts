/**
 * One fault run: its own stack, the mixed load of `npm run load`, one fault
 * in the middle third, recovery, then every acknowledged write reconciled
 * against its effects (the load's reconciliation), plus each write's events on
 * the topics by id, the dead letters the run created, and whether replaying
 * them completes the picture.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { ReminderDue, TaskCompleted, TaskCreated, TaskUpdated } from "../../shared/catalog/events.ts";
import { CONSUMERS, Topic } from "../../shared/catalog/names.ts";
import { readTopicToEnd } from "../stack/topic-reader.ts";
import { replay } from "../dead-letter/dead-letters.ts";
import { localStackTarget } from "../dead-letter/target.ts";
import { DEFAULT_PLAN, runLoadWith, type LoadPlan } from "../load/load.ts";
import { EFFECT_KINDS, reconcile, type Tally } from "../load/reconcile.ts";
import type { LoadReport } from "../load/report.ts";
import { LoadSession } from "../load/session.ts";
import { isAcknowledged, type LoadTask, type WriteRecord } from "../load/traffic.ts";
import { RssSampler, type RssSeries } from "../stack/cpu.ts";
import { liveProcesses } from "../stack/process.ts";
import { faultOf, type FaultName, type FaultOptions } from "./faults.ts";

export interface ChaosPlan extends FaultOptions {
  fault: FaultName;
  rate: number;
  durationS: number;
  warmupS: number;
  users: number;
  /** Names the stack's data directory (`.data/<name>`). */
  name: string;
  /** Environment per function on top of the fault's (a test scales a bound down with its window). */
  env?: Readonly<Record<string, Record<string, string>>>;
  /** RSS sampling period (every process of the stack). */
  rssIntervalMs: number;
  log?: (line: string) => void;
}

export const DEFAULT_CHAOS_PLAN: Omit<ChaosPlan, "fault"> = {
  rate: 20,
  durationS: 90,
  warmupS: 10,
  users: 50,
  name: "chaos",
  rssIntervalMs: 5_000,
};

export const CHAOS_EFFECT_KINDS = [...EFFECT_KINDS, "taskEvents", "reminderDueEvents"] as const;
export type ChaosEffectKind = (typeof CHAOS_EFFECT_KINDS)[number];

export interface ChaosReport {
  fault: FaultName;
  description: string;
  startedAt: string;
  rate: number;
  durationS: number;
  /** Seconds from the start of the measured load. */
  window: { startS: number; endS: number; steps: { atS: number; what: string; tookS: number; error?: string }[] };
  effects: Record<ChaosEffectKind, Tally>;
  /** POSTs a receiver saw again with an Idempotency-Key it had already had (the documented exception). */
  receiverRepeats: number;
  /** Tasks whose events on task-events are not in the order of their writes (per partition, by event time). */
  outOfOrderTasks: number;
  /** Copies of one event id on a topic beyond the first (at-least-once publishing; consumers de-duplicate by id). */
  republishedCopies: number;
  writes: {
    acknowledged: number;
    /** Writes acknowledged while the fault was on. */
    acknowledgedDuringFault: number;
    /** Answers during the fault window that were not acknowledgements, by status ("network": no answer). */
    refusedDuringFaultByStatus: Record<string, number>;
    refusedWithoutRetryAfter: number;
    /** Any 5xx but 503 during the whole run (must be none). */
    serverErrors: number;
  };
  /** Seconds from the fault's end until writes were answered again without failure. */
  writesRecoveredS: number;
  /** Seconds from the fault's end until the consumers' total lag was back at its level before the fault (null: only after the load). */
  lagRecoveredS: number | null;
  consumers: LoadReport["consumers"];
  deadLetters: {
    created: number;
    /** Replayed to their original topics once the run settled (null: none to replay). */
    replayed: number | null;
    /** Lost effects after the replay (null: nothing replayed). */
    lostAfterReplay: number | null;
    completesPicture: boolean | null;
  };
  rss: Record<string, RssSeries>;
  load: LoadReport;
  notes: string[];
}

/** Expected events per task and type from what the writes acknowledged; found: distinct event ids on the topic. */
const topicTally = (tasks: readonly LoadTask[], records: { value: unknown }[], types: { type: string; expected: (t: LoadTask) => [number, number] }[]) => {
  const ids = new Map<string, Set<string>>();
  let copies = 0;
  const seen = new Set<string>();
  for (const r of records) {
    const e = r.value as Partial<CloudEventEnvelope>;
    if (typeof e?.id !== "string" || typeof e.subject !== "string") continue;
    if (seen.has(e.id)) copies++;
    seen.add(e.id);
    const key = `${e.subject} ${e.type}`;
    ids.set(key, (ids.get(key) ?? new Set()).add(e.id));
  }
  const t: Tally = { expected: 0, upTo: 0, found: 0, lost: 0, duplicated: 0 };
  for (const task of tasks) {
    for (const { type, expected } of types) {
      const [want, uncertain] = expected(task);
      const found = ids.get(`${task.id} ${type}`)?.size ?? 0;
      t.expected += want;
      t.upTo += want + uncertain;
      t.found += found;
      t.lost += Math.max(0, want - found);
      t.duplicated += Math.max(0, found - want - uncertain);
    }
  }
  return { tally: t, copies };
};

/** Tasks whose events a partition holds out of the order of their writes (each carries the task's updatedAt; a consumer reads a partition in order). */
const outOfOrder = (records: { partition: number; offset: string; value: unknown }[]): number => {
  const sorted = [...records].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  const last = new Map<string, number>();
  const bad = new Set<string>();
  for (const r of sorted) {
    const e = r.value as Partial<CloudEventEnvelope>;
    const updatedAt = (e?.data as { task?: { updatedAt?: unknown } } | undefined)?.task?.updatedAt;
    if (typeof e?.subject !== "string" || typeof updatedAt !== "string") continue;
    const at = Date.parse(updatedAt);
    if (at < (last.get(e.subject) ?? 0)) bad.add(e.subject);
    last.set(e.subject, Math.max(at, last.get(e.subject) ?? 0));
  }
  return bad.size;
};

const countBy = <T>(items: T[], key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

export const runChaos = async (plan: ChaosPlan): Promise<ChaosReport> => {
  const log = plan.log ?? (() => undefined);
  const fault = faultOf(plan.fault, plan);
  const session = await LoadSession.start({
    name: plan.name,
    log,
    env: (name: string) => ({ ...fault.env?.(name), ...plan.env?.[name] }),
    ...(fault.prepare ? { prepare: (stack) => fault.prepare!(stack) } : {}),
  });
  const rss = new RssSampler(liveProcesses, plan.rssIntervalMs);
  try {
    await fault.ready?.(session);
    log(`fault ${fault.name}: ${fault.description}`);

    const windowStart = plan.durationS / 3;
    const windowEnd = (2 * plan.durationS) / 3;
    const steps: ChaosReport["window"]["steps"] = [];
    let chain: Promise<void> = Promise.resolve();
    let next = 0;
    let loadStartedAt = 0;
    let faultEndedAt = 0;
    const lagSamples: { t: number; lag: number }[] = [];
    let sampling = true;
    let lagLoop: Promise<void> | undefined;

    const loadPlan: LoadPlan = {
      ...DEFAULT_PLAN,
      mode: "open",
      rate: plan.rate,
      durationS: plan.durationS,
      warmupS: plan.warmupS,
      users: plan.users,
      log,
      ...(fault.burst ? { rateAt: (t: number) => (t >= windowStart - 2 && t < windowStart + 1 ? plan.rate * 3 : plan.rate) } : {}),
      onTick: (t) => {
        if (loadStartedAt === 0) {
          loadStartedAt = Date.now() - t * 1000;
          rss.start();
          lagLoop = (async () => {
            while (sampling) {
              const lag = await session.lag().catch(() => undefined);
              if (lag) lagSamples.push({ t: (Date.now() - loadStartedAt) / 1000, lag: lag.reduce((s, c) => s + c.lag, 0) });
              await sleep(1_000);
            }
          })();
        }
        while (next < fault.steps.length && t >= windowStart + fault.steps[next]!.at * (windowEnd - windowStart)) {
          const step = fault.steps[next++]!;
          chain = chain.then(async () => {
            const atS = (Date.now() - loadStartedAt) / 1000;
            log(`t=${atS.toFixed(1)} s: ${step.what}`);
            try {
              await step.run(session);
              steps.push({ atS, what: step.what, tookS: (Date.now() - loadStartedAt) / 1000 - atS });
            } catch (err) {
              steps.push({ atS, what: step.what, tookS: (Date.now() - loadStartedAt) / 1000 - atS, error: String(err) });
              log(`step failed: ${String(err)}`);
            }
            faultEndedAt = Date.now();
          });
        }
      },
    };
    const run = await runLoadWith(session, loadPlan);
    await chain;
    sampling = false;
    await lagLoop;
    const { traffic, report } = run;
    if (faultEndedAt === 0) faultEndedAt = loadStartedAt + windowEnd * 1000;
    const faultEndS = (faultEndedAt - loadStartedAt) / 1000;
    const faultStartAt = loadStartedAt + windowStart * 1000;

    // Writes: what the fault window answered, and when writes were answered without failure again.
    const measured = traffic.writes.filter((w) => w.measured);
    const sentAt = (w: WriteRecord) => w.ackAt - w.latencyMs;
    const inWindow = measured.filter((w) => w.ackAt >= faultStartAt && sentAt(w) <= faultEndedAt);
    const notAcked = inWindow.filter((w) => !isAcknowledged(w.status));
    const lastFailure = Math.max(0, ...measured.filter((w) => !isAcknowledged(w.status) && w.ackAt >= faultStartAt).map((w) => w.ackAt));
    const writesRecoveredS = lastFailure > faultEndedAt ? (lastFailure - faultEndedAt) / 1000 : 0;
    const before = lagSamples.filter((s) => s.t < windowStart).map((s) => s.lag);
    const baseline = Math.max(0, ...before);
    const lagBack = lagSamples.find((s) => s.t >= faultEndS && s.lag <= baseline);
    const lagRecoveredS = fault.steps.length === 0 ? 0 : lagBack ? lagBack.t - faultEndS : null;

    // Events on the topics, by id.
    const brokers = session.stack.kafkaBrokers;
    const [taskEvents, reminders] = await Promise.all([readTopicToEnd(brokers, Topic.TaskEvents, 120_000), readTopicToEnd(brokers, Topic.Reminders, 120_000)]);
    const events = topicTally(traffic.tasks, taskEvents, [
      { type: TaskCreated.type, expected: () => [1, 0] },
      { type: TaskUpdated.type, expected: (t) => [t.updates, t.uncertain] },
      { type: TaskCompleted.type, expected: (t) => [t.completed ? 1 : 0, t.completed ? 0 : t.uncertain] },
    ]);
    // A reminder comes due unless its task was completed first (then at most once).
    const due = topicTally(traffic.tasks, reminders, [
      { type: ReminderDue.type, expected: (t) => (t.reminderAt === undefined ? [0, 0] : t.completed ? [0, 1] : [1, 0]) },
    ]);

    // Dead letters: created during the run; replayed, and the effects reconciled again.
    const created = Object.values(report.consumers).reduce((s, c) => s + c.deadLettersCreated, 0);
    const deadLetters: ChaosReport["deadLetters"] = { created, replayed: null, lostAfterReplay: null, completesPicture: null };
    if (created > 0) {
      let replayed = 0;
      for (const consumer of CONSUMERS) {
        if ((report.consumers[consumer]?.deadLettersCreated ?? 0) === 0) continue;
        const result = await replay(localStackTarget(session.stack), { consumer, ids: "all", log });
        replayed += result.replayed.length;
      }
      await sleep(15_000);
      const again = await reconcile({ tasks: traffic.tasks, userPrefix: run.userPrefix }, session.receiver.posts, run.reader);
      const lost = EFFECT_KINDS.reduce((s, k) => s + again.effects[k].lost, 0);
      Object.assign(deadLetters, { replayed, lostAfterReplay: lost, completesPicture: lost === 0 });
    }

    const notes = [...report.notes];
    for (const s of steps.filter((s) => s.error)) notes.push(`step "${s.what}" failed: ${s.error}`);
    const receiverRepeats = [...session.receiver.repeats.values()].reduce((a, b) => a + b, 0);
    return {
      fault: fault.name,
      description: fault.description,
      startedAt: report.startedAt,
      rate: plan.rate,
      durationS: plan.durationS,
      window: { startS: windowStart, endS: faultEndS, steps },
      effects: { ...report.effects, taskEvents: events.tally, reminderDueEvents: due.tally },
      receiverRepeats,
      outOfOrderTasks: outOfOrder(taskEvents),
      republishedCopies: events.copies + due.copies,
      writes: {
        acknowledged: report.writes.acknowledged,
        acknowledgedDuringFault: inWindow.length - notAcked.length,
        refusedDuringFaultByStatus: countBy(notAcked, (w) => (w.status === 0 ? "network" : String(w.status))),
        refusedWithoutRetryAfter: notAcked.filter((w) => (w.status === 503 || w.status === 429) && !w.retryAfter).length,
        serverErrors: measured.filter((w) => w.status >= 500 && w.status !== 503).length,
      },
      writesRecoveredS,
      lagRecoveredS,
      consumers: report.consumers,
      deadLetters,
      rss: rss.stop(),
      load: report,
      notes,
    };
  } finally {
    rss.stop();
    await fault.close?.(); // a store left locked would hold the sidecars' shutdown
    await session.stop();
  }
};

/** Lost and duplicated effects over every kind (the receiver's repeats with a known key are not duplicates). */
export const totals = (r: ChaosReport): { lost: number; duplicated: number } => ({
  lost: CHAOS_EFFECT_KINDS.reduce((s, k) => s + r.effects[k].lost, 0),
  duplicated: CHAOS_EFFECT_KINDS.reduce((s, k) => s + r.effects[k].duplicated, 0),
});
