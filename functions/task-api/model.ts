/**
 * task-api's request shapes and the rules that turn a request into a task.
 * Requests are strict: an unknown field is an error naming it.
 */
import { z } from "zod";
import { HttpError } from "../../shared/host/errors.ts";
import { Instant, MAX_OCCURRENCES, Priority, Recurrence, TaskStatus, type TaskSnapshot } from "../../shared/catalog/task.ts";

/** A user id (a token's `sub`): the partition key of the user's tasks, so kept to characters any store takes. */
export const UserId = z.string().regex(/^[\w.@:|+-]{1,128}$/, "a user id is 1–128 letters, digits and _ . @ : | + -");

/** A task id: task-api makes them (UUIDs); anything else cannot name a task. */
export const TaskId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "a task id is 1–64 letters, digits and hyphens");

/** The opaque cursor of a page (what `next` said). */
export const Cursor = z.string().regex(/^[A-Za-z0-9_-]{1,4096}$/, "not a cursor this API handed out");

/** GET /tasks/:id/history */
export const HistoryQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(100),
  cursor: Cursor.optional(),
});
export type HistoryQuery = z.infer<typeof HistoryQuery>;

/** A request that failed validation beyond its schema (the task an update leaves); 400 with every bad field named. */
export class InvalidRequest extends HttpError {
  override readonly name = "InvalidRequest";
  constructor(readonly issues: { in: string; field: string; message: string }[]) {
    super(400, { error: "invalid request", reason: issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues });
  }
}

const Title = z.string().trim().min(1).max(200);
const Tags = z.array(z.string().trim().min(1).max(50)).max(20);
const Progress = z.number().int().min(0).max(100);

/** A reminder at a given instant, or some minutes before the due date. */
export const ReminderInput = z
  .strictObject({
    remindAt: Instant.optional(),
    minutesBefore: z.number().int().min(0).max(525_600).optional(),
  })
  .refine((r) => (r.remindAt === undefined) !== (r.minutesBefore === undefined), {
    message: "give remindAt or minutesBefore (exactly one)",
  });
export type ReminderInput = z.infer<typeof ReminderInput>;

/** The fields a user sets when creating a task. */
const taskFields = {
  title: Title,
  description: z.string().max(5_000).optional(),
  priority: Priority.default("medium"),
  tags: Tags.default([]),
  status: z.enum(["open", "in_progress"]).default("open"),
  progress: Progress.optional(),
  dueAt: Instant.optional(),
  reminder: ReminderInput.optional(),
  recurrence: Recurrence.optional(),
};

/** What a task needs besides its fields, checked on create and on the task an update leaves. */
export const crossFieldIssues = (t: {
  dueAt?: string | undefined;
  reminder?: ReminderInput | undefined;
  recurrence?: unknown;
}): { field: string; message: string }[] => [
  ...(t.reminder?.minutesBefore !== undefined && !t.dueAt ? [{ field: "reminder.minutesBefore", message: "needs dueAt" }] : []),
  ...(t.recurrence && !t.dueAt ? [{ field: "recurrence", message: "needs dueAt" }] : []),
];

const withCrossFieldRules = <T extends { dueAt?: string | undefined; reminder?: ReminderInput | undefined; recurrence?: unknown }>(
  t: T,
  ctx: z.RefinementCtx,
) => {
  for (const issue of crossFieldIssues(t)) ctx.addIssue({ code: "custom", path: issue.field.split("."), message: issue.message });
};

/** POST /tasks. Requests are strict: series fields are set by task-api itself, never by a user. */
export const CreateTaskBody = z.strictObject(taskFields).superRefine(withCrossFieldRules);
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

/** The internal create (recurring-task-service's next occurrence): a task of a series. */
export const InternalCreateTaskBody = z
  .strictObject({
    ...taskFields,
    seriesId: TaskId,
    occurrence: z.number().int().min(2).max(MAX_OCCURRENCES),
    seriesStartAt: Instant,
  })
  .superRefine(withCrossFieldRules);
export type InternalCreateTaskBody = z.infer<typeof InternalCreateTaskBody>;

/** A partial update; `null` clears an optional field. */
export const UpdateTaskBody = z
  .strictObject({
    title: Title.optional(),
    description: z.string().max(5_000).nullable().optional(),
    priority: Priority.optional(),
    tags: Tags.optional(),
    status: z.enum(["open", "in_progress"]).optional(),
    progress: Progress.nullable().optional(),
    dueAt: Instant.nullable().optional(),
    reminder: ReminderInput.nullable().optional(),
    recurrence: Recurrence.nullable().optional(),
  })
  .refine((u) => Object.keys(u).length > 0, { message: "nothing to update" });
export type UpdateTaskBody = z.infer<typeof UpdateTaskBody>;

export const ListTasksQuery = z.strictObject({
  status: TaskStatus.optional(),
  priority: Priority.optional(),
  tag: z.string().min(1).max(50).optional(),
  /** Case-insensitive text search in title and description. */
  q: z.string().min(1).max(200).optional(),
  sort: z.enum(["dueAt", "priority", "createdAt"]).default("createdAt"),
  order: z.enum(["asc", "desc"]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  /** The `next` of the page before. */
  cursor: Cursor.optional(),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;

export const TaskIdParams = z.strictObject({ id: TaskId });

/** The stored reminder request and its resolved instant. */
export const resolveRemindAt = (dueAt: string | undefined, reminder: ReminderInput | undefined): string | undefined => {
  if (!reminder) return undefined;
  if (reminder.remindAt) return new Date(reminder.remindAt).toISOString();
  if (dueAt && reminder.minutesBefore !== undefined) {
    return new Date(new Date(dueAt).getTime() - reminder.minutesBefore * 60_000).toISOString();
  }
  return undefined;
};

/** Field-level changes between two snapshots, for task.updated events and the audit trail. */
export const changesBetween = (before: TaskSnapshot, after: TaskSnapshot): Record<string, { from?: unknown; to?: unknown }> => {
  const changes: Record<string, { from?: unknown; to?: unknown }> = {};
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const field of fields) {
    if (field === "updatedAt") continue;
    const from = (before as Record<string, unknown>)[field];
    const to = (after as Record<string, unknown>)[field];
    if (JSON.stringify(from) !== JSON.stringify(to)) {
      changes[field] = { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
    }
  }
  return changes;
};
