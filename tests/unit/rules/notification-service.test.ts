/** notification-service's rule, in memory through testConsumer: a due reminder goes out once, unless no longer wanted. */
import { describe, expect, it } from "vitest";
import type { Channel, ReminderMessage } from "../../../functions/notification-service/channels.ts";
import { onReminderDue } from "../../../functions/notification-service/on-reminder-due.ts";
import { ReminderDue, ReminderSent } from "../../../shared/catalog/events.ts";
import { Service } from "../../../shared/catalog/names.ts";
import type { TaskSnapshot } from "../../../shared/catalog/task.ts";
import { derivedEventId } from "../../../shared/host/define.ts";
import { permanent } from "../../../shared/host/errors.ts";
import { taskApiClient } from "../../../shared/task-api-client.ts";
import { MemoryPublisher } from "../../../shared/testing/memory-publisher.ts";
import { MemoryState } from "../../../shared/testing/memory-state.ts";
import { MemoryTaskApi } from "../../../shared/testing/memory-task-api.ts";
import { testConsumer } from "../../../shared/testing/test-consumer.ts";

const REMIND_AT = "2030-01-01T08:30:00.000Z";
const NOW = new Date("2030-01-01T08:30:00.250Z");

const task = (fields: Partial<TaskSnapshot> = {}): TaskSnapshot => ({
  id: "task-1",
  userId: "ada",
  title: "Call the plumber",
  priority: "high",
  tags: [],
  status: "open",
  remindAt: REMIND_AT,
  createdAt: "2029-12-31T12:00:00.000Z",
  updatedAt: "2029-12-31T12:00:00.000Z",
  ...fields,
});

const due = { id: "due-1", correlationId: "req-1", data: { taskId: "task-1", userId: "ada", title: "Call the plumber", remindAt: REMIND_AT } };

/** A channel that keeps what it was sent, or fails with `failWith`. */
const recordingChannel = (failWith?: Error): Channel & { sent: ReminderMessage[] } => {
  const sent: ReminderMessage[] = [];
  return {
    name: "webhook",
    sent,
    async send(message) {
      if (failWith) throw failWith;
      sent.push(message);
    },
  };
};

const setup = (stored: TaskSnapshot | undefined, channel = recordingChannel()) => {
  const taskApi = new MemoryTaskApi();
  if (stored) taskApi.add(stored);
  const fakes = {
    invoker: taskApi.invoker,
    state: new MemoryState(),
    publisher: new MemoryPublisher(),
    clock: () => NOW,
    service: Service.NotificationService,
  };
  return { taskApi, channel, fakes, consumer: onReminderDue({ channels: [channel], tasks: taskApiClient(taskApi.invoker) }) };
};

describe("notification-service: reminder.due", () => {
  it("sends the reminder on its channels, claims it in the state store, and publishes reminder.sent derived from the due event", async () => {
    const { channel, fakes, consumer } = setup(task());
    const run = await testConsumer(consumer, due, fakes);

    expect(run.outcome).toBe("handled");
    expect(channel.sent).toEqual([{ eventId: "due-1", ...due.data }]);
    expect(run.stored.get(`reminder:task-1:${REMIND_AT}`)?.value).toMatchObject({ status: "done" });
    expect(run.published).toEqual([
      {
        topic: ReminderSent.topic,
        event: expect.objectContaining({
          id: derivedEventId("due-1", ReminderSent.type, "task-1"),
          type: ReminderSent.type,
          source: Service.NotificationService,
          subject: "task-1",
          correlationid: "req-1",
          causationid: "due-1",
          data: { taskId: "task-1", userId: "ada", remindAt: REMIND_AT, channels: ["webhook"], at: NOW.toISOString() },
        }),
      },
    ]);
  });

  it("does not send a redelivered reminder again, and publishes the same reminder.sent (same id) again", async () => {
    const { channel, fakes, consumer } = setup(task());
    const first = await testConsumer(consumer, due, fakes);
    const again = await testConsumer(consumer, due, fakes);
    expect(again.outcome).toBe("handled");
    expect(channel.sent).toHaveLength(1);
    expect(again.published.map((p) => p.event.id)).toEqual(first.published.map((p) => p.event.id));
  });

  it.each([
    ["the task was completed", task({ status: "completed", completedAt: "2030-01-01T08:00:00.000Z" })],
    ["the reminder was moved", task({ remindAt: "2030-01-02T08:30:00.000Z" })],
    ["the task is gone", undefined],
  ])("sends nothing and publishes nothing when %s", async (_, stored) => {
    const { channel, fakes, consumer } = setup(stored);
    const run = await testConsumer(consumer, due, fakes);
    expect(run.outcome).toBe("handled");
    expect(channel.sent).toEqual([]);
    expect(run.published).toEqual([]);
    expect(run.stored.size).toBe(0);
  });

  it("gives up (permanent) when the channel refuses for good, and leaves no claim behind", async () => {
    const { fakes, consumer } = setup(task(), recordingChannel(permanent("webhook refused the reminder: HTTP 410")));
    const run = await testConsumer(consumer, due, fakes);
    expect(run.outcome).toBe("permanent");
    expect(run.stored.size).toBe(0);
    expect(run.published).toEqual([]);
  });

  it("waits (busy) while task-api is out of reach, before anything is sent", async () => {
    const { taskApi, channel, fakes, consumer } = setup(task());
    taskApi.failWith = 503;
    const run = await testConsumer(consumer, due, fakes);
    expect(run.outcome).toBe("busy");
    expect(channel.sent).toEqual([]);
  });

  it("reads the event it is given with the catalog's schema", async () => {
    const { fakes, consumer } = setup(task());
    expect(consumer.event).toBe(ReminderDue);
    await expect(testConsumer(consumer, { data: { ...due.data, remindAt: "tomorrow" } }, fakes)).rejects.toThrow(/remindAt/);
  });
});
