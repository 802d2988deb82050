import { TaskCompleted } from "../../shared/catalog/events.ts";
import type { TaskSnapshot } from "../../shared/catalog/task.ts";
import { defineConsumer } from "../../shared/host/define.ts";
import { permanent } from "../../shared/host/errors.ts";
import type { TaskApiClient } from "../../shared/task-api-client.ts";
import { nextOccurrence } from "./recurrence.ts";

/**
 * A recurring task was completed: create its next occurrence through task-api,
 * unless the series has ended. The idempotency key (series + occurrence number)
 * makes every redelivery, retry or duplicate land on the same task.
 */
export const onTaskCompleted = (deps: { tasks: TaskApiClient }) =>
  defineConsumer({
    event: TaskCompleted,
    async handle(event, { log }) {
      const task = event.data.task;
      if (!task.recurrence) return;
      const start = task.seriesStartAt ?? task.dueAt;
      if (!start) throw permanent("recurring task has no due date to count from");
      const seriesId = task.seriesId ?? task.id;
      const next = nextOccurrence(start, task.recurrence, task.occurrence ?? 1);
      if (!next) {
        log.info({ seriesId, occurrence: task.occurrence }, "series ended: no next occurrence");
        return;
      }
      const created = await deps.tasks.create(task.userId, nextTask(task, seriesId, start, next), {
        idempotencyKey: `series:${seriesId}:${next.occurrence}`,
        correlationId: event.correlationId,
      });
      log.info({ seriesId, occurrence: next.occurrence, nextTaskId: created.id, dueAt: next.dueAt }, "next occurrence created");
    },
  });

/** The next occurrence: same content, next due date, the reminder moved along with it. */
const nextTask = (task: TaskSnapshot, seriesId: string, seriesStartAt: string, next: { occurrence: number; dueAt: string }) => {
  const shift = Date.parse(next.dueAt) - Date.parse(task.dueAt ?? seriesStartAt);
  return {
    title: task.title,
    ...(task.description ? { description: task.description } : {}),
    priority: task.priority,
    tags: task.tags,
    dueAt: next.dueAt,
    ...(task.remindAt ? { reminder: { remindAt: new Date(Date.parse(task.remindAt) + shift).toISOString() } } : {}),
    recurrence: task.recurrence,
    seriesId,
    occurrence: next.occurrence,
    seriesStartAt,
  };
};
