/**
 * task-api: the HTTP trigger for task writes and the owner of reminder jobs.
 * Built from its dependencies so tests can drive it with `inject` or through
 * its real sidecar.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { Service } from "../../shared/catalog/names.ts";
import { defineFunction, type FunctionDef } from "../../shared/host/define.ts";
import type { Admission } from "./admission.ts";
import type { Authenticate } from "./auth.ts";
import { Unauthorized } from "./auth.ts";
import { CreateTaskBody, InternalCreateTaskBody, InvalidRequest, ListTasksQuery, TaskIdParams, UpdateTaskBody, UserId } from "./model.ts";
import { openApiDocument } from "./openapi.ts";
import type { OutboxRelay } from "./outbox.ts";
import { isCosmosUnavailable } from "../../shared/cosmos.ts";
import { ConflictError } from "./store.ts";
import { IdempotencyMismatch, reminderJobName, type Actor, type ReminderJobData, type TaskService } from "./tasks.ts";

export interface TaskApiDeps {
  tasks: TaskService;
  relay: OutboxRelay;
  authenticate: Authenticate;
  /** Bounds the public requests worked on at once (503 with Retry-After beyond). */
  admission: Admission;
  /** When set, job callbacks must carry it in `dapr-api-token` (Dapr's APP_API_TOKEN). */
  appApiToken?: string;
}

/** Largest task write accepted. */
export const TASK_BODY_LIMIT = 64 * 1024;

const parse = <S extends z.ZodType>(schema: S, value: unknown, where: "body" | "query" | "params" | "header"): z.output<S> => {
  const result = schema.safeParse(where === "header" ? value : (value ?? {}));
  if (result.success) return result.data;
  throw new InvalidRequest(
    result.error.issues.flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => ({ in: where, field: [...issue.path, key].join("."), message: "unknown field" }))
        : [{ in: where, field: issue.path.join(".") || "(root)", message: issue.message }],
    ),
  );
};

const IdempotencyKey = z.string().min(1).max(200).optional();
const InternalUserParams = z.object({ userId: UserId });
/** The apps that may call task-api's internal API. */
const INTERNAL_CALLERS: readonly string[] = [Service.RecurringTaskService, Service.NotificationService];
const CorrelationId = z.string().regex(/^[\w.:-]{1,128}$/).optional();
const ReminderJobBody = z.object({
  taskId: z.string().min(1),
  userId: z.string().min(1),
  remindAt: z.string().min(1),
  correlationId: z.string().min(1).optional(),
  causationId: z.string().min(1).optional(),
});

declare module "fastify" {
  interface FastifyRequest {
    actor: Actor;
  }
}

export const taskApi = (deps: TaskApiDeps): FunctionDef =>
  defineFunction({
    name: Service.TaskApi,
    consumers: [],
    routes: (app) => {
      app.setErrorHandler(errorHandler);
      app.addHook("onReady", async () => deps.relay.start());
      app.addHook("onClose", async () => deps.relay.stop());

      app.get("/openapi.json", async () => openApiDocument());

      // The sidecar calls this when a reminder job is due: 2xx marks the job done.
      app.post<{ Params: { name: string } }>("/job/:name", async (request, reply) => {
        if (deps.appApiToken && request.headers["dapr-api-token"] !== deps.appApiToken) {
          return reply.code(401).send({ error: "unauthorized" });
        }
        const job = ReminderJobBody.safeParse(request.body);
        if (!job.success || request.params.name !== reminderJobName(job.data.taskId)) {
          request.log.warn({ job: request.params.name }, "unknown job: acknowledged and ignored");
          return {};
        }
        await deps.tasks.reminderDue(job.data satisfies ReminderJobData);
        return {};
      });

      // Service invocation from the consumers, on behalf of a task's owner. Reached through the
      // caller's sidecar, which sets dapr-caller-app-id; in a cluster, Dapr access control and
      // APP_API_TOKEN keep anyone else out.
      app.register(async (internal: FastifyInstance) => {
        internal.addHook("onRequest", async (request: FastifyRequest<{ Params: { userId?: string } }>) => {
          if (deps.appApiToken && request.headers["dapr-api-token"] !== deps.appApiToken) throw new Unauthorized("bad app API token");
          const caller = request.headers["dapr-caller-app-id"];
          if (typeof caller !== "string" || !INTERNAL_CALLERS.includes(caller)) {
            throw new Unauthorized(`internal API is for ${INTERNAL_CALLERS.join(", ")}, not ${String(caller ?? "anonymous callers")}`);
          }
          const { userId } = parse(InternalUserParams, { userId: request.params.userId }, "params");
          const correlationId = parse(CorrelationId, request.headers["x-correlation-id"], "header") ?? randomUUID();
          request.actor = { userId, correlationId };
        });

        internal.post("/internal/users/:userId/tasks", { bodyLimit: TASK_BODY_LIMIT }, async (request, reply) => {
          const body = parse(InternalCreateTaskBody, request.body, "body");
          const key = parse(IdempotencyKey, request.headers["idempotency-key"], "header");
          const { task, created } = await deps.tasks.create(request.actor, body, key);
          return reply.code(created ? 201 : 200).send(task);
        });

        internal.get("/internal/users/:userId/tasks/:id", async (request, reply) => {
          const { id } = parse(TaskIdParams, { id: (request.params as { id?: string }).id }, "params");
          return (await deps.tasks.get(request.actor, id)) ?? notFound(reply, id);
        });
      });

      app.register(async (tasksApi: FastifyInstance) => {
        deps.admission.guard(tasksApi);
        tasksApi.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
          const { userId } = await deps.authenticate(request.headers.authorization);
          const correlationId = parse(CorrelationId, request.headers["x-correlation-id"], "header") ?? randomUUID();
          request.actor = { userId, correlationId };
          reply.header("x-correlation-id", correlationId);
        });

        tasksApi.post("/tasks", { bodyLimit: TASK_BODY_LIMIT }, async (request, reply) => {
          const body = parse(CreateTaskBody, request.body, "body");
          const key = parse(IdempotencyKey, request.headers["idempotency-key"], "header");
          const { task, created } = await deps.tasks.create(request.actor, body, key);
          return reply.code(created ? 201 : 200).header("location", `/tasks/${task.id}`).send(task);
        });

        tasksApi.get("/tasks", async (request) => {
          const query = parse(ListTasksQuery, request.query, "query");
          return { tasks: await deps.tasks.list(request.actor, query) };
        });

        tasksApi.get("/tasks/:id", async (request, reply) => {
          const { id } = parse(TaskIdParams, request.params, "params");
          return (await deps.tasks.get(request.actor, id)) ?? notFound(reply, id);
        });

        tasksApi.patch("/tasks/:id", { bodyLimit: TASK_BODY_LIMIT }, async (request, reply) => {
          const { id } = parse(TaskIdParams, request.params, "params");
          const body = parse(UpdateTaskBody, request.body, "body");
          return (await deps.tasks.update(request.actor, id, body)) ?? notFound(reply, id);
        });

        tasksApi.post("/tasks/:id/complete", async (request, reply) => {
          const { id } = parse(TaskIdParams, request.params, "params");
          return (await deps.tasks.complete(request.actor, id)) ?? notFound(reply, id);
        });

        tasksApi.delete("/tasks/:id", async (request, reply) => {
          const { id } = parse(TaskIdParams, request.params, "params");
          return (await deps.tasks.delete(request.actor, id)) ? reply.code(204).send() : notFound(reply, id);
        });

        tasksApi.get("/tasks/:id/history", async (request, reply) => {
          const { id } = parse(TaskIdParams, request.params, "params");
          const entries = await deps.tasks.history(request.actor, id);
          return entries ? { taskId: id, entries } : notFound(reply, id);
        });
      });
    },
  });

/** Someone else's task is as absent as a missing one. */
const notFound = (reply: FastifyReply, id: string) => reply.code(404).send({ error: "not found", taskId: id });

const errorHandler = (err: Error & { statusCode?: number; code?: string }, request: FastifyRequest, reply: FastifyReply) => {
  if (err instanceof InvalidRequest) return reply.code(400).send({ error: "invalid request", issues: err.issues });
  if (err instanceof Unauthorized) {
    return reply.code(401).header("www-authenticate", 'Bearer realm="task-api"').send({ error: "unauthorized", reason: err.message });
  }
  if (err instanceof IdempotencyMismatch) return reply.code(422).send({ error: "idempotency key reused", reason: err.message });
  if (isCosmosUnavailable(err) || err instanceof ConflictError) {
    // The write did not happen, or (a time-out) its outcome is unknown; either way the task and its
    // outbox commit together or not at all. A create sent again with its Idempotency-Key is safe.
    request.log.warn({ err }, "store busy or out of reach: answered 503");
    return reply.code(503).header("retry-after", "1").send({ error: "busy", reason: "the task store is busy or out of reach; try again in 1 s" });
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    // fastify's own: malformed JSON (400), body too large (413), unsupported media type (415)
    return reply.code(err.statusCode).send({ error: err.message, code: err.code });
  }
  request.log.error({ err }, "request failed");
  return reply.code(500).send({ error: "internal error" });
};
