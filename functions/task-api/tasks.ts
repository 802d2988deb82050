/**
 * The task rules: what each write changes and which side effects it owes.
 * Every write stores the task and its outbox entries in one document write;
 * the relay then carries the entries out.
 */
import { createHash, randomUUID } from "node:crypto";
import { z } from "zod";
import { envelope, stableUuid, type EventData, type EventDef } from "../../shared/catalog/cloudevent.ts";
import {
  ReminderCancelled,
  ReminderDue,
  ReminderScheduled,
  TaskCompleted,
  TaskCreated,
  TaskDeleted,
  TaskProgressChanged,
  TaskStatusChanged,
  TaskUpdated,
} from "../../shared/catalog/events.ts";
import { Service } from "../../shared/catalog/names.ts";
import { Instant, type TaskSnapshot } from "../../shared/catalog/task.ts";
import type { AuditEntry } from "../../shared/catalog/audit.ts";
import { HttpError } from "../../shared/host/errors.ts";
import {
  changesBetween,
  crossFieldIssues,
  InvalidRequest,
  TaskId,
  UserId,
  resolveRemindAt,
  type CreateTaskBody,
  type HistoryQuery,
  type InternalCreateTaskBody,
  type ListTasksQuery,
  type UpdateTaskBody,
} from "./model.ts";
import type { OutboxRelay } from "./outbox.ts";
import { ConflictError, snapshotOf, type OutboxEntry, type TaskDoc, type TaskStore } from "./store.ts";

/** Who asks, and the correlation id every event of the request carries. */
export interface Actor {
  userId: string;
  correlationId: string;
}

/** 422: an Idempotency-Key sent again with a different request. */
export class IdempotencyMismatch extends HttpError {
  override readonly name = "IdempotencyMismatch";
  constructor(reason: string) {
    super(422, { error: "idempotency key reused", reason });
  }
}

/** 409: the user has as many live tasks as task-api keeps for one user. */
export class TooManyTasks extends HttpError {
  override readonly name = "TooManyTasks";
  constructor(limit: number) {
    super(409, { error: "too many tasks", reason: `a user keeps at most ${limit} live tasks; complete or delete some first` });
  }
}

/** Limits on what one user may keep. */
export interface TaskLimits {
  /** Live (not deleted) tasks per user; undefined: no cap (and no counting). */
  maxLiveTasks: number | undefined;
}

/**
 * How long this replica trusts a user's live-task count between counts by the store (it adds its own
 * creates and deletes meanwhile): a count is a query, so a user is counted at most every ten
 * minutes. Other replicas' writes show at the next count: the cap is approximate by that much.
 */
const LIVE_COUNT_TTL_MS = 10 * 60_000;
const LIVE_COUNTS_KEPT = 10_000;

/** The job that brings a task's reminder: one per task (a new time overwrites it). */
export const reminderJobName = (taskId: string): string => `reminder-${taskId}`;

/** The job that brings a reminder back after its handling failed: one per task and remind time. */
export const reminderRetryJobName = (taskId: string, remindAt: string): string => `reminder-${taskId}-retry-${Date.parse(remindAt)}`;

/** What a reminder job carries back to POST /job/<name>. */
export const ReminderJobData = z.object({
  taskId: TaskId,
  userId: UserId,
  remindAt: Instant,
  /** The write that scheduled the reminder: reminder.due continues its correlation. */
  correlationId: z.string().min(1).max(128).optional(),
  /** The reminder.scheduled event's id. */
  causationId: z.string().min(1).max(128).optional(),
  /** Set on a retry job: how many times handling failed, and when it first did. */
  attempt: z.number().int().min(1).max(100_000).optional(),
  firstFailedAt: Instant.optional(),
});
export type ReminderJobData = z.infer<typeof ReminderJobData>;

/** A job's data, and the job names it may come under. */
export const ReminderJob = ReminderJobData.transform((data) => ({
  data,
  names: [reminderJobName(data.taskId), reminderRetryJobName(data.taskId, data.remindAt)],
}));

const hashOf = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex");

/** The id of a task created with an idempotency key: the same for the same user and key. */
const taskIdFor = (userId: string, idempotencyKey: string): string => stableUuid(userId, idempotencyKey);

/**
 * The events one write emits, in the order it emits them: each becomes an outbox entry (the
 * relay publishes it once the write is stored), stamped with the write's time and its place in
 * the write (`writeSeq` 0, 1, 2…), so readers order a task's events without knowing this code.
 */
class WriteEvents {
  private next = 0;

  constructor(
    private readonly actor: Actor,
    /** When the write happened: every event of it carries this time. */
    private readonly at: string,
  ) {}

  /** The request's correlation id, which every event of the write carries. */
  get correlationId(): string {
    return this.actor.correlationId;
  }

  /** The outbox entry that publishes the event: nothing is sent until the write is stored and the relay carries it out. */
  outboxEntry<E extends EventDef>(def: E, data: EventData<E>): OutboxEntry {
    const subject = (data as { taskId: string }).taskId;
    const event = envelope({
      event: def,
      data,
      subject,
      source: Service.TaskApi,
      time: this.at,
      correlationId: this.actor.correlationId,
      writeSeq: this.next++,
    });
    return { id: event.id, kind: "publish", topic: def.topic, event };
  }
}

export class TaskService {
  /** Live tasks per user as this replica knows them: counted by the store, then kept up to date for a while. */
  private readonly liveCounts = new Map<string, { count: number; until: number }>();

  constructor(
    private readonly store: TaskStore,
    private readonly relay: OutboxRelay,
    private readonly limits: TaskLimits = { maxLiveTasks: undefined },
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A user's create (CreateTaskBody), or the next occurrence of a series (InternalCreateTaskBody). */
  async create(actor: Actor, body: CreateTaskBody | InternalCreateTaskBody, idempotencyKey?: string): Promise<{ task: TaskSnapshot; created: boolean }> {
    const cap = this.limits.maxLiveTasks;
    if (cap !== undefined && (await this.liveTasks(actor.userId)) >= cap) throw new TooManyTasks(cap);
    const at = this.now().toISOString();
    const id = idempotencyKey ? taskIdFor(actor.userId, idempotencyKey) : randomUUID();
    const events = new WriteEvents(actor, at);
    const { reminder, ...fields } = body;
    const series = "seriesId" in body ? { seriesId: body.seriesId, occurrence: body.occurrence, seriesStartAt: body.seriesStartAt } : undefined;
    const task: TaskSnapshot = {
      ...fields,
      id,
      userId: actor.userId,
      ...(body.recurrence ? (series ?? { seriesId: id, occurrence: 1, seriesStartAt: body.dueAt }) : {}),
      ...(resolveRemindAt(body.dueAt, reminder) ? { remindAt: resolveRemindAt(body.dueAt, reminder) } : {}),
      createdAt: at,
      updatedAt: at,
    };
    const doc: TaskDoc = {
      ...task,
      version: 1,
      ...(reminder ? { reminderRule: reminder } : {}),
      ...(idempotencyKey ? { idempotency: { key: idempotencyKey, bodyHash: hashOf(body) } } : {}),
      outbox: [events.outboxEntry(TaskCreated, { taskId: id, userId: actor.userId, task }), ...this.reminderEffects(undefined, task, events)],
    };
    let written: TaskDoc;
    try {
      written = await this.store.create(this.relay.lease(doc));
    } catch (err) {
      if (!(err instanceof ConflictError) || !idempotencyKey) throw err;
      const existing = await this.store.get(actor.userId, id);
      if (!existing || existing.idempotency?.bodyHash !== hashOf(body)) {
        throw new IdempotencyMismatch("this Idempotency-Key was used with a different request");
      }
      if (existing.deleted) throw new IdempotencyMismatch("this Idempotency-Key created a task that has since been deleted");
      return { task: snapshotOf(existing), created: false };
    }
    this.relay.afterWrite(written);
    this.countLive(actor.userId, +1);
    return { task, created: true };
  }

  async get(actor: Actor, id: string): Promise<TaskSnapshot | undefined> {
    const doc = await this.store.get(actor.userId, id);
    return doc && !doc.deleted ? snapshotOf(doc) : undefined;
  }

  /** A page of the user's tasks (filtered and sorted by the store) and the cursor of the next. */
  async list(actor: Actor, query: ListTasksQuery): Promise<{ tasks: TaskSnapshot[]; next?: string }> {
    const page = await this.store.listOf(actor.userId, query);
    return { tasks: page.items.map(snapshotOf), ...(page.next ? { next: page.next } : {}) };
  }

  /** The user's live tasks: counted by the store at most once a minute, kept up to date by this replica's writes. */
  private async liveTasks(userId: string): Promise<number> {
    const known = this.liveCounts.get(userId);
    if (known && known.until > Date.now()) return known.count;
    const count = await this.store.liveTaskCount(userId);
    this.liveCounts.delete(userId);
    this.liveCounts.set(userId, { count, until: Date.now() + LIVE_COUNT_TTL_MS });
    if (this.liveCounts.size > LIVE_COUNTS_KEPT) this.liveCounts.delete(this.liveCounts.keys().next().value!);
    return count;
  }

  private countLive(userId: string, change: number): void {
    const known = this.liveCounts.get(userId);
    if (known) known.count = Math.max(0, known.count + change);
  }

  async update(actor: Actor, id: string, body: UpdateTaskBody): Promise<TaskSnapshot | undefined> {
    const result = await this.store.update(actor.userId, id, (doc) => {
      if (doc.deleted) return undefined;
      const before = snapshotOf(doc);
      const next: TaskDoc = { ...doc };
      const fields = next as unknown as Record<string, unknown>;
      for (const [field, value] of Object.entries(body)) {
        if (field === "reminder") continue;
        if (value === null) delete fields[field];
        else if (value !== undefined) fields[field] = value;
      }
      if (body.reminder === null) delete next.reminderRule;
      else if (body.reminder) next.reminderRule = body.reminder;
      // The task the update leaves must be one a create would accept.
      const problems = crossFieldIssues({ dueAt: next.dueAt, reminder: next.reminderRule, recurrence: next.recurrence });
      if (problems.length > 0) throw new InvalidRequest(problems.map((p) => ({ in: "body", ...p })));
      // Reopened: no longer completed; a reminder still to come is scheduled again (reminderEffects).
      if (doc.status === "completed" && next.status !== "completed") delete next.completedAt;
      const remindAt = resolveRemindAt(next.dueAt, next.reminderRule);
      if (remindAt) next.remindAt = remindAt;
      else delete next.remindAt;
      if (next.recurrence && !next.seriesId) Object.assign(next, { seriesId: next.id, occurrence: 1, seriesStartAt: next.dueAt });
      next.updatedAt = this.now().toISOString();

      const after = snapshotOf(next);
      const changes = changesBetween(before, after);
      if (Object.keys(changes).length === 0) return undefined;
      const events = new WriteEvents(actor, next.updatedAt);
      next.outbox = [
        ...doc.outbox,
        events.outboxEntry(TaskUpdated, { taskId: id, userId: actor.userId, task: after, changes }),
        ...this.liveUpdates(before, after, events),
        ...this.reminderEffects(doc, after, events),
      ];
      return this.relay.lease(next);
    });
    if (!result || result.after.deleted) return undefined;
    this.relay.afterWrite(result.after);
    return snapshotOf(result.after);
  }

  async complete(actor: Actor, id: string): Promise<TaskSnapshot | undefined> {
    const result = await this.store.update(actor.userId, id, (doc) => {
      if (doc.deleted || doc.status === "completed") return undefined;
      const before = snapshotOf(doc);
      const at = this.now().toISOString();
      const after: TaskSnapshot = { ...before, status: "completed", completedAt: at, updatedAt: at };
      const events = new WriteEvents(actor, at);
      return this.relay.lease({
        ...doc,
        ...after,
        outbox: [
          ...doc.outbox,
          events.outboxEntry(TaskCompleted, { taskId: id, userId: actor.userId, task: after }),
          ...this.liveUpdates(before, after, events),
          ...this.reminderEffects(doc, undefined, events, "completed"),
        ],
      });
    });
    if (!result || result.after.deleted) return undefined;
    this.relay.afterWrite(result.after);
    return snapshotOf(result.after);
  }

  async delete(actor: Actor, id: string): Promise<boolean> {
    const result = await this.store.update(actor.userId, id, (doc) => {
      if (doc.deleted) return undefined;
      const at = this.now().toISOString();
      const task = snapshotOf(doc);
      const events = new WriteEvents(actor, at);
      return this.relay.lease({
        ...doc,
        deleted: { at },
        outbox: [
          ...doc.outbox,
          events.outboxEntry(TaskDeleted, { taskId: id, userId: actor.userId, task, deletedAt: at }),
          events.outboxEntry(TaskStatusChanged, { taskId: id, userId: actor.userId, from: task.status, to: "deleted", at }),
          ...this.reminderEffects(doc, undefined, events, "deleted"),
        ],
      });
    });
    if (!result || result.before.deleted) return false;
    this.relay.afterWrite(result.after);
    this.countLive(actor.userId, -1);
    return true;
  }

  /** A page of the task's audit trail (also after the task was deleted: the tombstone keeps it the user's). */
  async history(actor: Actor, id: string, page: HistoryQuery): Promise<{ entries: AuditEntry[]; next?: string } | undefined> {
    const doc = await this.store.get(actor.userId, id);
    if (!doc) return undefined;
    const { items, next } = await this.store.historyOf(id, page);
    return { entries: items, ...(next ? { next } : {}) };
  }

  /**
   * The reminder job fired. Produces reminder.due once per task and remind
   * time, and nothing for a task that is gone, completed or rescheduled.
   */
  async reminderDue(job: ReminderJobData): Promise<void> {
    const result = await this.store.update(job.userId, job.taskId, (doc) => {
      if (doc.deleted || doc.status === "completed") return undefined;
      if (doc.remindAt !== job.remindAt || doc.reminderFiredFor === job.remindAt) return undefined;
      const event = envelope({
        event: ReminderDue,
        data: { taskId: doc.id, userId: doc.userId, title: doc.title, remindAt: job.remindAt, ...(doc.dueAt ? { dueAt: doc.dueAt } : {}) },
        subject: doc.id,
        source: Service.TaskApi,
        id: stableUuid(ReminderDue.type, doc.id, job.remindAt),
        ...(job.correlationId ? { correlationId: job.correlationId } : {}),
        ...(job.causationId ? { causationId: job.causationId } : {}),
      });
      return this.relay.lease({
        ...doc,
        reminderFiredFor: job.remindAt,
        outbox: [...doc.outbox, { id: event.id, kind: "publish", topic: ReminderDue.topic, event }],
      });
    });
    if (result) this.relay.afterWrite(result.after);
  }

  /** task-updates for live clients: status and progress changes. */
  private liveUpdates(before: TaskSnapshot, after: TaskSnapshot, events: WriteEvents): OutboxEntry[] {
    const ids = { taskId: after.id, userId: after.userId, at: after.updatedAt };
    return [
      ...(before.status !== after.status ? [events.outboxEntry(TaskStatusChanged, { ...ids, from: before.status, to: after.status })] : []),
      ...(after.progress !== undefined && before.progress !== after.progress
        ? [events.outboxEntry(TaskProgressChanged, { ...ids, progress: after.progress })]
        : []),
    ];
  }

  /**
   * Keeps the reminder job in line with the task: scheduled while the task is
   * open and its reminder has not fired, removed when it is completed, deleted,
   * or its reminder is taken away. A changed time overwrites the job.
   */
  private reminderEffects(before: TaskDoc | undefined, after: TaskSnapshot | undefined, events: WriteEvents, ending?: "completed" | "deleted"): OutboxEntry[] {
    // A remind time already past when the write is handled (a slow request, an edit) still fires,
    // at once: an acknowledged reminder is never silently dropped. One that fired is done: an edit
    // that keeps it does not schedule it again.
    const fired = before?.reminderFiredFor;
    const pending = (remindAt: string | undefined): remindAt is string => remindAt !== undefined && fired !== remindAt;
    const taskId = (after ?? before)!.id;
    const userId = (after ?? before)!.userId;
    const job = reminderJobName(taskId);
    // A completed task has no job (completing removed it): reopening it schedules its reminder anew.
    const oldAt = before && before.status !== "completed" && pending(before.remindAt) ? before.remindAt : undefined;
    const newAt = after && after.status !== "completed" && pending(after.remindAt) ? after.remindAt : undefined;
    if (oldAt === newAt) return [];

    const effects: OutboxEntry[] = [];
    if (oldAt) {
      const reason = ending ?? (newAt ? "rescheduled" : "removed");
      if (!newAt) effects.push({ id: randomUUID(), kind: "remove-job", name: job });
      effects.push(events.outboxEntry(ReminderCancelled, { taskId, userId, remindAt: oldAt, reason }));
    }
    if (newAt) {
      const scheduled = events.outboxEntry(ReminderScheduled, { taskId, userId, remindAt: newAt, ...(after?.dueAt ? { dueAt: after.dueAt } : {}) });
      const data: ReminderJobData = { taskId, userId, remindAt: newAt, correlationId: events.correlationId, causationId: scheduled.id };
      effects.push({ id: randomUUID(), kind: "schedule-job", name: job, dueTime: newAt, data }, scheduled);
    }
    return effects;
  }
}
