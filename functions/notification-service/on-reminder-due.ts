import { ReminderDue, ReminderSent } from "../../shared/catalog/events.ts";
import { defineConsumer } from "../../shared/host/define.ts";
import type { TaskApiClient } from "../../shared/task-api-client.ts";
import type { Channel, ReminderMessage } from "./channels.ts";

/**
 * A reminder came due: send it on every channel, once per task and remind
 * time, unless the task was completed, deleted or rescheduled meanwhile.
 */
export const onReminderDue = (deps: { channels: Channel[]; tasks: TaskApiClient }) =>
  defineConsumer({
    event: ReminderDue,
    async handle(event, { log, once, publish, now }) {
      const { taskId, userId, remindAt } = event.data;
      const task = await deps.tasks.find(userId, taskId);
      if (!task || task.status === "completed" || task.remindAt !== remindAt) {
        log.info({ taskId, remindAt, status: task?.status ?? "deleted" }, "reminder no longer wanted: not sent");
        return;
      }
      const message: ReminderMessage = { eventId: event.id, ...event.data };
      const sentNow = await once(`reminder:${taskId}:${remindAt}`, async () => {
        for (const channel of deps.channels) await channel.send(message);
      });
      if (!sentNow) log.info({ taskId, remindAt }, "reminder already sent: not sent again");
      // Also after a duplicate: the id is derived from this event, so a repeat is one event downstream.
      await publish(ReminderSent, { taskId, userId, remindAt, channels: deps.channels.map((c) => c.name), at: now().toISOString() }, { subject: taskId });
      if (sentNow) log.info({ taskId, remindAt }, "reminder sent");
    },
  });
