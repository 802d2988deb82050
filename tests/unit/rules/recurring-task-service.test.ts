/** recurring-task-service's rule, in memory through testConsumer: a completed recurring task gets its next occurrence. */
import { describe, expect, it } from "vitest";
import { onTaskCompleted } from "../../../functions/recurring-task-service/on-task-completed.ts";
import { Service } from "../../../shared/catalog/names.ts";
import { routePath, TaskApiRoute } from "../../../shared/catalog/routes.ts";
import { Recurrence, type TaskSnapshot } from "../../../shared/catalog/task.ts";
import { taskApiClient } from "../../../shared/task-api-client.ts";
import { MemoryTaskApi } from "../../../shared/testing/memory-task-api.ts";
import { testConsumer } from "../../../shared/testing/test-consumer.ts";

const completed = (fields: Partial<TaskSnapshot> = {}): TaskSnapshot => ({
  id: "task-1",
  userId: "ada",
  title: "Water the plants",
  priority: "medium",
  tags: ["home"],
  status: "completed",
  dueAt: "2030-01-01T09:00:00.000Z",
  remindAt: "2030-01-01T08:30:00.000Z",
  recurrence: Recurrence.parse({ frequency: "daily" }),
  seriesId: "series-1",
  occurrence: 1,
  seriesStartAt: "2030-01-01T09:00:00.000Z",
  createdAt: "2029-12-31T12:00:00.000Z",
  updatedAt: "2030-01-01T10:00:00.000Z",
  completedAt: "2030-01-01T10:00:00.000Z",
  ...fields,
});

const setup = () => {
  const taskApi = new MemoryTaskApi();
  return { taskApi, consumer: onTaskCompleted({ tasks: taskApiClient(taskApi.invoker) }), fakes: { invoker: taskApi.invoker } };
};

describe("recurring-task-service: task.completed", () => {
  it("creates the next occurrence through task-api, due a day later with its reminder moved along, under the series' idempotency key", async () => {
    const { consumer, fakes } = setup();
    const task = completed();
    const run = await testConsumer(consumer, { data: { taskId: task.id, userId: task.userId, task }, correlationId: "req-1" }, fakes);

    expect(run.outcome).toBe("handled");
    expect(run.invoked).toEqual([
      {
        appId: Service.TaskApi,
        path: routePath(TaskApiRoute.UserTasks, { userId: "ada" }),
        method: "POST",
        body: expect.objectContaining({
          title: "Water the plants",
          dueAt: "2030-01-02T09:00:00.000Z",
          reminder: { remindAt: "2030-01-02T08:30:00.000Z" },
          seriesId: "series-1",
          occurrence: 2,
          seriesStartAt: "2030-01-01T09:00:00.000Z",
        }),
        headers: { "idempotency-key": "series:series-1:2", "x-correlation-id": "req-1" },
      },
    ]);
    expect(run.published).toEqual([]);
  });

  it("lands a redelivery on the same next task", async () => {
    const { taskApi, consumer, fakes } = setup();
    const task = completed();
    const event = { id: "evt-1", data: { taskId: task.id, userId: task.userId, task } };
    await testConsumer(consumer, event, fakes);
    const again = await testConsumer(consumer, event, fakes);
    expect(again.outcome).toBe("handled");
    expect(again.invoked).toHaveLength(1);
    expect(taskApi.tasks.size).toBe(1);
  });

  it("does nothing for a one-off task, or once the series has ended", async () => {
    const { consumer, fakes } = setup();
    const oneOff = completed({ recurrence: undefined, seriesId: undefined, occurrence: undefined, seriesStartAt: undefined });
    const ended = completed({ recurrence: Recurrence.parse({ frequency: "daily", count: 3 }), occurrence: 3 });
    for (const task of [oneOff, ended]) {
      const run = await testConsumer(consumer, { data: { taskId: task.id, userId: task.userId, task } }, fakes);
      expect(run.outcome).toBe("handled");
      expect(run.invoked).toEqual([]);
    }
  });

  it("gives up at once (permanent) on a recurring task with no due date to count from", async () => {
    const { consumer, fakes } = setup();
    const task = completed({ dueAt: undefined, seriesStartAt: undefined, remindAt: undefined });
    const run = await testConsumer(consumer, { data: { taskId: task.id, userId: task.userId, task } }, fakes);
    expect(run.outcome).toBe("permanent");
    expect(String(run.error)).toMatch(/no due date/);
    expect(run.invoked).toEqual([]);
  });

  it("waits (busy) while task-api answers 503", async () => {
    const { taskApi, consumer, fakes } = setup();
    taskApi.failWith = 503;
    const task = completed();
    const run = await testConsumer(consumer, { data: { taskId: task.id, userId: task.userId, task } }, fakes);
    expect(run.outcome).toBe("busy");
    expect(taskApi.tasks.size).toBe(0);
  });
});
