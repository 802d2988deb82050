/**
 * What audit-service records of each event: the entry (schema in
 * shared/catalog/audit.ts) and the change each event type says happened.
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
import type { AuditChange, AuditEntry } from "../../shared/catalog/audit.ts";

type Summary<E extends AnyEvent> = (data: EventData<E>) => AuditChange;

/** Drops absent values, so an entry holds only what the event said. */
const facts = (values: Record<string, unknown>): AuditChange => Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));

/** What each event says happened to its task. Every event of the catalog has one. */
export const summaries: { [E in AnyEvent as E["type"]]: Summary<E> } = {
  [TaskCreated.type]: ({ task }) => facts({ title: task.title, status: task.status, priority: task.priority, dueAt: task.dueAt, remindAt: task.remindAt }),
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

/** An instant as UTC text with milliseconds, or undefined when it is not one. */
const utc = (time: string | undefined): string | undefined => {
  const ms = time === undefined ? NaN : Date.parse(time);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
};

/** The entry for an event; an event without a readable time is placed at the time it was recorded. */
export const entryOf = <E extends AnyEvent>(def: E, event: CloudEvent<EventData<E>>, change: AuditChange, recordedAt: Date): AuditEntry => {
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
    writeSeq: event.writeSeq,
    correlationId: event.correlationId,
    ...(event.causationId ? { causationId: event.causationId } : {}),
    change,
    recordedAt: recorded,
  };
};
