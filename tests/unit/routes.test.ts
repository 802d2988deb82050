import { describe, expect, it } from "vitest";
import { Admission } from "../../functions/task-api/admission.ts";
import { taskApi } from "../../functions/task-api/app.ts";
import type { OutboxRelay } from "../../functions/task-api/outbox.ts";
import type { TaskService } from "../../functions/task-api/tasks.ts";
import { Service } from "../../shared/catalog/names.ts";
import { routePath, TaskApiRoute } from "../../shared/catalog/routes.ts";
import { buildApp, buildPublicApp } from "../../shared/host/app.ts";
import type { DeadLetterWriter } from "../../shared/host/dead-letters.ts";
import type { Jobs } from "../../shared/host/jobs.ts";
import { createLogger } from "../../shared/logger.ts";
import { MemoryPublisher } from "../../shared/testing/memory-publisher.ts";

describe("routePath", () => {
  it("fills each parameter of a route, percent-encoded", () => {
    expect(routePath(TaskApiRoute.CompleteTask, { id: "t-1" })).toBe("/tasks/t-1/complete");
    expect(routePath(TaskApiRoute.UserTask, { userId: "a/b c", id: "t?1" })).toBe("/internal/users/a%2Fb%20c/tasks/t%3F1");
    expect(routePath(TaskApiRoute.Tasks, {})).toBe("/tasks");
  });
});

describe("TaskApiRoute", () => {
  it("names only routes task-api declares: the public ones on its public app, the internal ones on its sidecar-facing app", async () => {
    const log = createLogger(Service.TaskApi, "silent");
    // Nothing is called: the routes are only declared.
    const fn = taskApi.build({
      tasks: {} as TaskService,
      relay: {} as OutboxRelay,
      jobs: {} as Jobs,
      deadLetters: {} as DeadLetterWriter,
      authenticate: async () => ({ userId: "nobody" }),
      admission: new Admission({ maxInFlight: 1, retryAfterS: 1 }),
      writesPerMinute: 1,
      log,
    });
    const publicApp = (await buildPublicApp(fn, { log }))!;
    const sidecarApp = await buildApp(fn, {
      publisher: new MemoryPublisher(),
      once: async () => false,
      log,
      maxDeliveryAttempts: 1,
      appApiToken: "a-token-of-16-chars-or-more",
    });
    const declared = (method: string, url: string) =>
      publicApp.hasRoute({ method: method as "GET", url }) || sidecarApp.hasRoute({ method: method as "GET", url });
    const uses: [string, keyof typeof TaskApiRoute][] = [
      ["GET", "Tasks"],
      ["POST", "Tasks"],
      ["GET", "Task"],
      ["PATCH", "Task"],
      ["DELETE", "Task"],
      ["POST", "CompleteTask"],
      ["GET", "TaskHistory"],
      ["POST", "UserTasks"],
      ["GET", "UserTask"],
    ];
    expect(uses.filter(([method, route]) => !declared(method, TaskApiRoute[route])).map(([m, r]) => `${m} ${r}`)).toEqual([]);
    expect(Object.keys(TaskApiRoute).filter((route) => !uses.some(([, r]) => r === route))).toEqual([]);
    expect(sidecarApp.hasRoute({ method: "POST", url: TaskApiRoute.UserTasks })).toBe(true);
    expect(publicApp.hasRoute({ method: "POST", url: TaskApiRoute.UserTasks })).toBe(false);
    await Promise.all([publicApp.close(), sidecarApp.close()]);
  });
});
