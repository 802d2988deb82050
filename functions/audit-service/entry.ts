/**
 * The audit entry: one document per event in the audit container, partitioned
 * by task id. Its id is the event's id, so a redelivered event finds its entry
 * already there.
 */
import type { CloudEvent, EventData } from "../../shared/catalog/cloudevent.ts";
import {
  ReminderCancelled,
  ReminderDue,
  ReminderScheduled,
  ReminderSent,
  TaskCompleted,
  TaskCreated,
  TaskDeleted,
  TaskProgressChanged,
  TaskStatusChanged,
  TaskUpdated,
  type AnyEvent,
} from "../../shared/catalog/events.ts";
import { AuditEntry, type AuditChange } from "../../shared/catalog/audit.ts";

export { AuditEntry, type AuditChange };

type Summary<E extends AnyEvent> = (data: EventData<E>) => AuditChange;

/** Drops absent values, so an entry holds only what the event said. */
const facts = (values: Record<string, unknown>): AuditChange =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));

/** What each event says happened to its task. Every event of the catalog has one. */
export const summaries: { [E in AnyEvent as E["type"]]: Summary<E> } = {
  [TaskCreated.type]: ({ task }) =>
    facts({ title: task.title, status: task.status, priority: task.priority, dueAt: task.dueAt, remindAt: task.remindAt }),
  [TaskUpdated.type]: ({ changes }) => changes,
  [TaskCompleted.type]: ({ task }) => facts({ status: task.status, completedAt: task.completedAt }),
  [TaskDeleted.type]: ({ deletedAt }) => ({ deletedAt }),
  [ReminderScheduled.type]: ({ remindAt, dueAt }) => facts({ remindAt, dueAt }),
  [ReminderDue.type]: ({ remindAt }) => ({ remindAt }),
  [ReminderCancelled.type]: ({ remindAt, reason }) => ({ remindAt, reason }),
  [TaskStatusChanged.type]: ({ from, to }) => facts({ from, to }),
  [TaskProgressChanged.type]: ({ progress }) => ({ progress }),
  [ReminderSent.type]: ({ remindAt, channels }) => ({ remindAt, channels }),
};

/**
 * The order in which one task write emits its events (the task event, its live
 * updates, then its reminder changes); later steps of a reminder follow.
 */
const WRITE_ORDER: Readonly<Record<AnyEvent["type"], number>> = {
  [TaskCreated.type]: 0,
  [TaskUpdated.type]: 0,
  [TaskCompleted.type]: 0,
  [TaskDeleted.type]: 0,
  [TaskStatusChanged.type]: 1,
  [TaskProgressChanged.type]: 2,
  [ReminderCancelled.type]: 3,
  [ReminderScheduled.type]: 4,
  [ReminderDue.type]: 5,
  [ReminderSent.type]: 6,
};

/** An instant as UTC text with milliseconds, or undefined when it is not one. */
const utc = (time: string | undefined): string | undefined => {
  const ms = time === undefined ? NaN : Date.parse(time);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
};

/** The entry for an event; an event without a readable time is placed at the time it was recorded. */
export const entryOf = <E extends AnyEvent>(
  def: E,
  event: CloudEvent<EventData<E>>,
  change: AuditChange,
  recordedAt: Date,
): AuditEntry => {
  const recorded = recordedAt.toISOString();
  const { taskId, userId } = event.data as { taskId: string; userId: string };
  return {
    id: event.id,
    taskId,
    userId,
    type: event.type,
    source: event.source,
    topic: def.topic,
    time: utc(event.time) ?? recorded,
    rank: WRITE_ORDER[def.type],
    correlationId: event.correlationId,
    ...(event.causationId ? { causationId: event.causationId } : {}),
    change,
    recordedAt: recorded,
  };
};
