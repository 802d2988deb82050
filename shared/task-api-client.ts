/**
 * The consumers' client for task-api's internal API, over Dapr service
 * invocation: the consumers never write tasks themselves.
 */
import { Service } from "./catalog/names.ts";
import { routePath, TaskApiRoute } from "./catalog/routes.ts";
import { TaskSnapshot } from "./catalog/task.ts";
import { busy, permanent } from "./host/errors.ts";
import { InvokeError, type Invoker, type InvokeResult } from "./host/invoke.ts";

export interface TaskApiClient {
  /** The task as task-api has it now; undefined if it does not exist (or was deleted). */
  find(userId: string, taskId: string): Promise<TaskSnapshot | undefined>;
  /** Creates a task for `userId`; the idempotency key makes a retry return the same task. */
  create(userId: string, body: Record<string, unknown>, opts: { idempotencyKey: string; correlationId: string }): Promise<TaskSnapshot>;
}

/**
 * task-api busy (503, 429) or out of reach (its sidecar cannot deliver the call: it is down or
 * reported unhealthy): the event waits without spending its delivery attempts.
 */
const unlessBusy = async (call: () => Promise<InvokeResult>): Promise<InvokeResult> => {
  let res: InvokeResult;
  try {
    res = await call();
  } catch (err) {
    if (err instanceof InvokeError) throw busy(err.message, { cause: err });
    throw err;
  }
  if (res.status === 503 || res.status === 429) throw busy(`task-api is busy: HTTP ${res.status}`);
  if (res.status === 500 && isDaprInvokeFailure(res.body)) throw busy(`task-api is out of reach: ${JSON.stringify(res.body)}`);
  return res;
};

/** The error daprd answers when it could not deliver a service invocation (target down or unhealthy). */
const isDaprInvokeFailure = (body: unknown): boolean =>
  typeof body === "object" && body !== null && (body as { errorCode?: unknown }).errorCode === "ERR_DIRECT_INVOKE";

export const taskApiClient = (invoker: Invoker): TaskApiClient => ({
  async find(userId, taskId) {
    const res = await unlessBusy(() => invoker.invoke(Service.TaskApi, routePath(TaskApiRoute.UserTask, { userId, id: taskId })));
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`task-api lookup of ${taskId}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return TaskSnapshot.parse(res.body);
  },
  async create(userId, body, opts) {
    const res = await unlessBusy(() =>
      invoker.invoke(Service.TaskApi, routePath(TaskApiRoute.UserTasks, { userId }), {
        method: "POST",
        body,
        headers: { "idempotency-key": opts.idempotencyKey, "x-correlation-id": opts.correlationId },
      }),
    );
    // A request task-api rejects will be rejected again: dead-letter it with task-api's reason.
    if (res.status === 400 || res.status === 422) throw permanent(`task-api refused the task: ${JSON.stringify(res.body)}`);
    if (res.status !== 200 && res.status !== 201) throw new Error(`task-api create: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return TaskSnapshot.parse(res.body);
  },
});
