import { describe, expect, it } from "vitest";
import { routePath, TaskApiRoute } from "../../shared/catalog/routes.ts";

describe("routePath", () => {
  it("fills each parameter of a route, percent-encoded", () => {
    expect(routePath(TaskApiRoute.CompleteTask, { id: "t-1" })).toBe("/tasks/t-1/complete");
    expect(routePath(TaskApiRoute.UserTask, { userId: "a/b c", id: "t?1" })).toBe("/internal/users/a%2Fb%20c/tasks/t%3F1");
    expect(routePath(TaskApiRoute.Tasks, {})).toBe("/tasks");
  });
});
