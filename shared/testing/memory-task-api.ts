/**
 * task-api's internal API in memory, for unit tests of the consumers that call it through
 * taskApiClient: the routes of shared/catalog/routes.ts over a map of tasks, with task-api's
 * idempotency (the same key gives the same task, 200 instead of 201).
 */
import { randomUUID } from "node:crypto";
import { Service } from "../catalog/names.ts";
import { TaskApiRoute } from "../catalog/routes.ts";
import type { TaskSnapshot } from "../catalog/task.ts";
import type { InvokeResult } from "../host/invoke.ts";
import { MemoryInvoker, type InvokeCall } from "./memory-invoker.ts";

/** A route pattern as a regular expression capturing its parameters by name. */
const matcher = (pattern: string): RegExp => new RegExp(`^${pattern.replace(/:(\w+)/g, "(?<$1>[^/]+)")}$`);
const USER_TASKS = matcher(TaskApiRoute.UserTasks);
const USER_TASK = matcher(TaskApiRoute.UserTask);

export class MemoryTaskApi {
  /** The tasks it holds, by id. */
  readonly tasks = new Map<string, TaskSnapshot>();
  private readonly byKey = new Map<string, string>();
  /** While set, every call is answered with this status (503: task-api busy, say). */
  failWith: number | undefined;

  /** The Invoker a consumer's taskApiClient calls it through. */
  readonly invoker = new MemoryInvoker((call) => this.answer(call));

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Puts a task in, as if it had been created earlier. */
  add(task: TaskSnapshot): void {
    this.tasks.set(task.id, task);
  }

  private answer(call: InvokeCall): InvokeResult {
    if (call.appId !== Service.TaskApi) return { status: 500, body: { errorCode: "ERR_DIRECT_INVOKE" } };
    if (this.failWith !== undefined) return { status: this.failWith, body: { error: "failing on purpose" } };
    const one = USER_TASK.exec(call.path)?.groups;
    if (one && call.method === "GET") {
      const task = this.tasks.get(decodeURIComponent(one["id"]!));
      return task && task.userId === decodeURIComponent(one["userId"]!) ? { status: 200, body: task } : { status: 404, body: { error: "not found" } };
    }
    const all = USER_TASKS.exec(call.path)?.groups;
    if (all && call.method === "POST") return this.create(decodeURIComponent(all["userId"]!), call);
    return { status: 404, body: { error: `no route ${call.method} ${call.path}` } };
  }

  private create(userId: string, call: InvokeCall): InvokeResult {
    const key = call.headers["idempotency-key"];
    const known = key === undefined ? undefined : this.byKey.get(`${userId}\n${key}`);
    if (known) return { status: 200, body: this.tasks.get(known) };
    const at = this.now().toISOString();
    const task = { ...(call.body as object), id: randomUUID(), userId, status: "open", createdAt: at, updatedAt: at } as TaskSnapshot;
    this.tasks.set(task.id, task);
    if (key !== undefined) this.byKey.set(`${userId}\n${key}`, task.id);
    return { status: 201, body: task };
  }
}
