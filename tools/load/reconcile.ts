/**
 * Every acknowledged write against its effects: one audit entry per event of
 * each write, one next occurrence per completed recurring task, one reminder
 * POST per reminder of a task left open. What is missing is lost, what is
 * there twice is duplicated; a write that got no answer may or may not have
 * happened, and is allowed either way.
 */
import type { Container, SqlQuerySpec } from "@azure/cosmos";
import { TaskCompleted, TaskCreated, TaskUpdated } from "../../shared/catalog/events.ts";
import { AUDIT_CONTAINER } from "../../shared/catalog/audit.ts";
import { CosmosConfig, openCosmosDatabase } from "../../shared/cosmos.ts";
import { TASKS_CONTAINER } from "../../functions/task-api/store.ts";
import type { LoadTask } from "./traffic.ts";

export interface Tally {
  expected: number;
  /** The most that may be found without a duplicate: `expected` plus what a write without an answer, or a completion racing a reminder, allows. */
  upTo: number;
  found: number;
  lost: number;
  duplicated: number;
}

export const EFFECT_KINDS = ["auditEntries", "nextOccurrences", "reminders"] as const;
export type EffectKind = (typeof EFFECT_KINDS)[number];

export interface Reconciliation {
  effects: Record<EffectKind, Tally>;
  /** Tasks in the store that no acknowledged write explains (a refused write that took effect). */
  unexplainedTasks: number;
  /** The first few mismatches, for the report. */
  mismatches: string[];
}

interface Expectation {
  what: string;
  /** At least this many, and at most this many plus `uncertain`. */
  expected: number;
  uncertain: number;
  found: number;
}

const tally = (expectations: Expectation[]): Tally => {
  const t: Tally = { expected: 0, upTo: 0, found: 0, lost: 0, duplicated: 0 };
  for (const e of expectations) {
    t.expected += e.expected;
    t.upTo += e.expected + e.uncertain;
    t.found += e.found;
    t.lost += Math.max(0, e.expected - e.found);
    t.duplicated += Math.max(0, e.found - e.expected - e.uncertain);
  }
  return t;
};

const countBy = <T>(items: T[], key: (item: T) => string): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};

/** Reads the effects from the stores a run's stack holds. */
export class EffectReader {
  private constructor(
    private readonly audit: Container,
    private readonly tasks: Container,
  ) {}

  static async open(cosmos: { endpoint: string; key: string }): Promise<EffectReader> {
    const database = await openCosmosDatabase(
      CosmosConfig.parse({ COSMOS_ENDPOINT: cosmos.endpoint, COSMOS_KEY: cosmos.key, COSMOS_ALLOW_SELF_SIGNED: "true", COSMOS_REQUEST_TIMEOUT_MS: "60000" }),
    );
    return new EffectReader(database.container(AUDIT_CONTAINER.id!), database.container(TASKS_CONTAINER.id!));
  }

  auditEntries(): Promise<{ taskId: string; type: string; recordedAt: string }[]> {
    return this.all(this.audit, "SELECT c.taskId, c.type, c.recordedAt FROM c");
  }

  /** The tasks of users whose names start with `userPrefix`. */
  storedTasks(userPrefix: string): Promise<{ id: string; seriesId?: string; occurrence?: number }[]> {
    return this.all(this.tasks, {
      query: "SELECT c.id, c.seriesId, c.occurrence FROM c WHERE STARTSWITH(c.userId, @prefix)",
      parameters: [{ name: "@prefix", value: userPrefix }],
    });
  }

  private async all<T>(container: Container, query: string | SqlQuerySpec): Promise<T[]> {
    const { resources } = await container.items.query<T>(query, { maxItemCount: 100_000 }).fetchAll();
    return resources;
  }
}

/** What a run owes: its tasks, and the prefix of its users' names (the store holds other runs' tasks too). */
export interface RunTasks {
  tasks: readonly LoadTask[];
  userPrefix: string;
}

export const reconcile = async (run: RunTasks, reminderPosts: ReadonlyMap<string, number>, reader: EffectReader): Promise<Reconciliation> => {
  const { tasks } = run;
  const [entries, stored] = await Promise.all([reader.auditEntries(), reader.storedTasks(run.userPrefix)]);
  const audit = countBy(entries, (e) => `${e.taskId} ${e.type}`);
  const nextBySeries = countBy(
    stored.filter((t) => t.occurrence === 2),
    (t) => t.seriesId ?? "",
  );

  const auditExpectations = tasks.flatMap((t): Expectation[] => {
    const expect = (type: string, expected: number, uncertain: number): Expectation => ({
      what: `${t.id} ${type}`,
      expected,
      uncertain,
      found: audit.get(`${t.id} ${type}`) ?? 0,
    });
    return [
      expect(TaskCreated.type, 1, 0),
      expect(TaskUpdated.type, t.updates, t.uncertain),
      expect(TaskCompleted.type, t.completed ? 1 : 0, t.completed ? 0 : t.uncertain),
    ];
  });
  const nextExpectations = tasks
    .filter((t) => t.recurring)
    .map(
      (t): Expectation => ({
        what: `${t.id} next occurrence`,
        expected: t.completed ? 1 : 0,
        uncertain: t.completed ? 0 : t.uncertain,
        found: nextBySeries.get(t.id) ?? 0,
      }),
    );
  // A task completed around its reminder's time may or may not have had it sent: at most once.
  const reminderExpectations = tasks
    .filter((t) => t.reminderAt !== undefined)
    .map(
      (t): Expectation => ({
        what: `${t.id} reminder`,
        expected: t.completed ? 0 : 1,
        uncertain: t.completed || t.uncertain > 0 ? 1 : 0,
        found: reminderPosts.get(t.id) ?? 0,
      }),
    );

  const known = new Set(tasks.map((t) => t.id));
  const explained = (t: { id: string; seriesId?: string }) => known.has(t.id) || (t.seriesId !== undefined && known.has(t.seriesId));
  const all = [...auditExpectations, ...nextExpectations, ...reminderExpectations];
  return {
    effects: {
      auditEntries: tally(auditExpectations),
      nextOccurrences: tally(nextExpectations),
      reminders: tally(reminderExpectations),
    },
    unexplainedTasks: stored.filter((t) => !explained(t)).length,
    mismatches: all
      .filter((e) => e.found < e.expected || e.found > e.expected + e.uncertain)
      .slice(0, 20)
      .map((e) => `${e.what}: expected ${e.expected}${e.uncertain ? `(+${e.uncertain})` : ""}, found ${e.found}`),
  };
};

/** Reconciles until nothing is lost or `settleMs` has passed (effects trail the writes), then once more for late duplicates. */
export const reconcileSettled = async (
  run: RunTasks,
  reminderPosts: ReadonlyMap<string, number>,
  reader: EffectReader,
  opts: { settleMs: number; quietMs: number },
): Promise<Reconciliation & { settledS: number }> => {
  const started = Date.now();
  let result = await reconcile(run, reminderPosts, reader);
  while (EFFECT_KINDS.some((k) => result.effects[k].lost > 0) && Date.now() - started < opts.settleMs) {
    await new Promise((r) => setTimeout(r, 1_000));
    result = await reconcile(run, reminderPosts, reader);
  }
  const settledS = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, opts.quietMs)); // duplicates, if any, would come after the originals
  return { ...(await reconcile(run, reminderPosts, reader)), settledS };
};
