/**
 * Every event of the system: topic, versioned CloudEvent type, data schema.
 * Producers publish and consumers subscribe with these same values.
 *
 * Envelope (shared/catalog/cloudevent.ts): id, source (the producing service),
 * time, subject (the task id, also the Kafka key), correlationid, and
 * causationid when derived from another event. Every data payload carries
 * taskId and userId.
 *
 * Compatibility: within a version, fields are only added, and only as
 * optional; consumers ignore fields they do not know (objects are not strict).
 * Anything else is a new version (`.v2`) published alongside the old one.
 */
import { z } from "zod";
import { defineEvent, type EventDef } from "./cloudevent.ts";
import { Topic } from "./names.ts";
import { Instant, TaskSnapshot, TaskStatus } from "./task.ts";

const ids = { taskId: z.string().min(1), userId: z.string().min(1) };

/** One changed field: its value before and after (absent = not set). */
const FieldChange = z.object({ from: z.unknown().optional(), to: z.unknown().optional() });

// ------------------------------------------------------------ task-events

export const TaskCreated = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.created.v1",
  schema: z.object({ ...ids, task: TaskSnapshot }),
});

export const TaskUpdated = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.updated.v1",
  schema: z.object({ ...ids, task: TaskSnapshot, changes: z.record(z.string(), FieldChange) }),
});

export const TaskCompleted = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.completed.v1",
  schema: z.object({ ...ids, task: TaskSnapshot }),
});

export const TaskDeleted = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.deleted.v1",
  schema: z.object({ ...ids, task: TaskSnapshot, deletedAt: Instant }),
});

// ------------------------------------------------------------ reminders

export const ReminderScheduled = defineEvent({
  topic: Topic.Reminders,
  type: "reminder.scheduled.v1",
  schema: z.object({ ...ids, remindAt: Instant, dueAt: Instant.optional() }),
});

export const ReminderDue = defineEvent({
  topic: Topic.Reminders,
  type: "reminder.due.v1",
  schema: z.object({ ...ids, title: z.string(), remindAt: Instant, dueAt: Instant.optional() }),
});

export const ReminderCancelled = defineEvent({
  topic: Topic.Reminders,
  type: "reminder.cancelled.v1",
  schema: z.object({
    ...ids,
    remindAt: Instant,
    reason: z.enum(["completed", "deleted", "rescheduled", "removed"]),
  }),
});

// ------------------------------------------------------------ task-updates

export const TaskStatusChanged = defineEvent({
  topic: Topic.TaskUpdates,
  type: "task.status-changed.v1",
  schema: z.object({ ...ids, from: TaskStatus.optional(), to: TaskStatus.or(z.literal("deleted")), at: Instant }),
});

export const TaskProgressChanged = defineEvent({
  topic: Topic.TaskUpdates,
  type: "task.progress-changed.v1",
  schema: z.object({ ...ids, progress: z.number().int().min(0).max(100), at: Instant }),
});

/** The whole catalog, in documentation order. */
export const ALL_EVENTS = [
  TaskCreated,
  TaskUpdated,
  TaskCompleted,
  TaskDeleted,
  ReminderScheduled,
  ReminderDue,
  ReminderCancelled,
  TaskStatusChanged,
  TaskProgressChanged,
] as const satisfies readonly EventDef[];

export type AnyEvent = (typeof ALL_EVENTS)[number];
