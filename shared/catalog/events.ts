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

const ids = {
  taskId: z.string().min(1).describe("The task the event is about; equals the envelope's subject."),
  userId: z.string().min(1).describe("The owner of the task."),
};

/** One changed field: its value before and after (absent = not set). */
const FieldChange = z.object({
  from: z.unknown().optional().describe("The value before the change; absent when it was not set."),
  to: z.unknown().optional().describe("The value after the change; absent when it was removed."),
});

// ------------------------------------------------------------ task-events

export const TaskCreated = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.created.v1",
  schema: z.object({ ...ids, task: TaskSnapshot.describe("The task as created.") }).describe("A task was created."),
});

export const TaskUpdated = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.updated.v1",
  schema: z
    .object({
      ...ids,
      task: TaskSnapshot.describe("The task after the change."),
      changes: z.record(z.string(), FieldChange).describe("The changed fields of the task, by field name."),
    })
    .describe("Fields of a task changed."),
});

export const TaskCompleted = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.completed.v1",
  schema: z.object({ ...ids, task: TaskSnapshot.describe("The task as completed.") }).describe("A task was completed."),
});

export const TaskDeleted = defineEvent({
  topic: Topic.TaskEvents,
  type: "task.deleted.v1",
  schema: z
    .object({
      ...ids,
      task: TaskSnapshot.describe("The task as it was when deleted."),
      deletedAt: Instant.describe("When the task was deleted."),
    })
    .describe("A task was deleted."),
});

// ------------------------------------------------------------ reminders

export const ReminderScheduled = defineEvent({
  topic: Topic.Reminders,
  type: "reminder.scheduled.v1",
  schema: z
    .object({
      ...ids,
      remindAt: Instant.describe("When the reminder will fire."),
      dueAt: Instant.optional().describe("When the task is due."),
    })
    .describe("A reminder was scheduled for a task."),
});

export const ReminderDue = defineEvent({
  topic: Topic.Reminders,
  type: "reminder.due.v1",
  schema: z
    .object({
      ...ids,
      title: z.string().min(1).max(200).describe("The task's title, for the notification."),
      remindAt: Instant.describe("When the reminder was scheduled to fire."),
      dueAt: Instant.optional().describe("When the task is due."),
    })
    .describe("A reminder is due: the user should be notified now."),
});

export const ReminderCancelled = defineEvent({
  topic: Topic.Reminders,
  type: "reminder.cancelled.v1",
  schema: z
    .object({
      ...ids,
      remindAt: Instant.describe("When the cancelled reminder would have fired."),
      reason: z.enum(["completed", "deleted", "rescheduled", "removed"]).describe("Why the reminder was cancelled."),
    })
    .describe("A scheduled reminder was cancelled and will not fire."),
});

// ------------------------------------------------------------ task-updates

export const TaskStatusChanged = defineEvent({
  topic: Topic.TaskUpdates,
  type: "task.status-changed.v1",
  schema: z
    .object({
      ...ids,
      from: TaskStatus.optional().describe("The status before, when there was one."),
      to: TaskStatus.or(z.literal("deleted")).describe("The status after, or `deleted`."),
      at: Instant.describe("When the status changed."),
    })
    .describe("A task's status changed, for live clients."),
});

export const TaskProgressChanged = defineEvent({
  topic: Topic.TaskUpdates,
  type: "task.progress-changed.v1",
  schema: z
    .object({
      ...ids,
      progress: z.number().int().min(0).max(100).describe("Percent done, 0–100."),
      at: Instant.describe("When the progress changed."),
    })
    .describe("A task's progress changed, for live clients."),
});

export const ReminderSent = defineEvent({
  topic: Topic.TaskUpdates,
  type: "reminder.sent.v1",
  schema: z
    .object({
      ...ids,
      remindAt: Instant.describe("The remind time this notification was for."),
      channels: z.array(z.string().min(1)).min(1).describe("Channels the reminder went out on (webhook, log)."),
      at: Instant.describe("When it was sent."),
    })
    .describe("A reminder went out to the user; produced once per task and remind time."),
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
  ReminderSent,
] as const satisfies readonly EventDef[];

export type AnyEvent = (typeof ALL_EVENTS)[number];
