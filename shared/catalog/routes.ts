/**
 * task-api's routes that other processes call: task-api declares them with these patterns, and
 * its callers (the consumers' client, the load tool, benchmarks, tests) build paths from the same
 * ones with `routePath`. The public API's reference is generated from task-api's declarations
 * (GET /openapi.json).
 */
export const TaskApiRoute = {
  /** Public API: the caller's tasks (GET, a page at a time) and creates (POST). */
  Tasks: "/tasks",
  /** Public API: one task (GET, PATCH, DELETE). */
  Task: "/tasks/:id",
  /** Public API: completes a task (POST). */
  CompleteTask: "/tasks/:id/complete",
  /** Public API: the task's audit trail (GET). */
  TaskHistory: "/tasks/:id/history",
  /** Internal API (service invocation from TASK_API_CALLERS): creates a task on behalf of its owner (POST). */
  UserTasks: "/internal/users/:userId/tasks",
  /** Internal API: one task of a user (GET). */
  UserTask: "/internal/users/:userId/tasks/:id",
} as const;

/** The `:name` parameters of a route pattern. */
export type RouteParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | RouteParams<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

/** A path of a route: each `:name` replaced by its value, percent-encoded. */
export const routePath = <P extends string>(pattern: P, params: Record<RouteParams<P>, string>): string =>
  pattern.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent((params as Record<string, string>)[name]!));
