/**
 * task-api's public API, on the port the Ingress reaches: the users' task
 * writes and reads, its OpenAPI document and an interactive reference. Each
 * route declares its schemas once (zod, through fastify's type provider): they
 * validate the request, check the response, and are the OpenAPI document, so
 * the document cannot drift from what the server does.
 *
 * In order, for every request: admission (503 + Retry-After past the bound),
 * the bearer token (401), then per-user rate limiting of writes (429 +
 * Retry-After), then the schemas (400 naming each field).
 */
import { randomUUID } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { jsonSchemaTransform, jsonSchemaTransformObject, type ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { AuditEntry } from "../../shared/catalog/audit.ts";
import { Service } from "../../shared/catalog/names.ts";
import { routePath, TaskApiRoute } from "../../shared/catalog/routes.ts";
import { TaskSnapshot } from "../../shared/catalog/task.ts";
import { HttpError } from "../../shared/host/errors.ts";
import type { Admission } from "./admission.ts";
import type { Authenticate } from "./auth.ts";
import { CreateTaskBody, HistoryQuery, ListTasksQuery, TaskIdParams, UpdateTaskBody } from "./model.ts";
import type { Actor, TaskService } from "./tasks.ts";

/** Largest task write accepted. */
export const TASK_BODY_LIMIT = 64 * 1024;

export interface PublicApiDeps {
  tasks: TaskService;
  authenticate: Authenticate;
  admission: Admission;
  /** Writes one user may send per minute (429 with Retry-After beyond). */
  writesPerMinute: number;
}

declare module "fastify" {
  interface FastifyRequest {
    actor: Actor;
  }
}

export const ErrorBody = z
  .object({
    error: z.string().describe("What went wrong, in a few words."),
    reason: z.string().optional().describe("Why, and what to do about it."),
    code: z.string().optional(),
    issues: z
      .array(z.object({ in: z.string(), field: z.string(), message: z.string() }))
      .optional()
      .describe("Every bad field of an invalid request."),
  })
  .meta({ id: "Error" });

const Task = TaskSnapshot.meta({ id: "Task" });
const IdempotencyKeyHeader = z.object({ "idempotency-key": z.string().min(1).max(200).optional() });
const CorrelationId = z.string().regex(/^[\w.:-]{1,128}$/, "1–128 letters, digits and _ . : -");

const error = (description: string) => ErrorBody.describe(description);
/** Answers every route can give besides its own. */
const common = {
  400: error("Invalid request: every bad field named."),
  401: error("Missing, malformed, expired or foreign bearer token; the reason says which."),
  503: error("Busy (too many requests in flight, or the store out of reach): Retry-After says when to try again."),
};
const writeAnswers = {
  ...common,
  413: error("Body over 64 KiB."),
  415: error("Body not application/json."),
  429: error("Too many writes from this user: Retry-After says when to try again."),
};
const missing = { 404: error("No such task for this user (another user's task is as absent as a missing one).") };

export const publicApi =
  (deps: PublicApiDeps) =>
  async (app: FastifyInstance): Promise<void> => {
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: Service.TaskApi,
          version: "1.0.0",
          description:
            "Task writes and reads; every change is published as a CloudEvent. Cross-field rules: `reminder.minutesBefore` and `recurrence` need `dueAt`, on create and on the task an update leaves.",
        },
        components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

    await app.register(async (api) => {
      deps.admission.guard(api);
      api.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
        const { userId } = await deps.authenticate(request.headers.authorization);
        const given = request.headers["x-correlation-id"];
        const correlation = given === undefined ? undefined : CorrelationId.safeParse(given);
        if (correlation && !correlation.success) {
          throw new HttpError(400, {
            error: "invalid request",
            issues: [{ in: "header", field: "x-correlation-id", message: correlation.error.issues[0]!.message }],
          });
        }
        const correlationId = correlation?.data ?? randomUUID();
        request.actor = { userId, correlationId };
        reply.header("x-correlation-id", correlationId);
      });
      // Writes share one counter per user (one limiter over all of them); reads are not counted.
      await api.register(async (writeScope) => {
        await writeScope.register(rateLimit, {
          hook: "preHandler", // after the token: writes are counted per user
          max: deps.writesPerMinute,
          timeWindow: 60_000,
          keyGenerator: (request) => request.actor.userId,
          errorResponseBuilder: (_request, context) =>
            new HttpError(
              429,
              { error: "rate limited", reason: `at most ${context.max} writes a minute per user; try again in ${Math.ceil(context.ttl / 1000)} s` },
              { "retry-after": String(Math.ceil(context.ttl / 1000)) },
            ),
        });
        writes(writeScope, deps.tasks);
      });
      reads(api, deps.tasks);
    });
  };

const writes = (scope: FastifyInstance, tasks: TaskService) => {
  const typed = scope.withTypeProvider<ZodTypeProvider>();

  typed.post(
    TaskApiRoute.Tasks,
    {
      bodyLimit: TASK_BODY_LIMIT,
      schema: {
        summary: "Create a task",
        headers: IdempotencyKeyHeader,
        body: CreateTaskBody.meta({ id: "CreateTask" }),
        response: {
          201: Task.describe("Created."),
          200: Task.describe("The task an earlier create with the same Idempotency-Key made."),
          409: error("The user keeps as many live tasks as a user may."),
          422: error("Idempotency-Key reused with a different request."),
          ...writeAnswers,
        },
      },
    },
    async (request, reply) => {
      const { task, created } = await tasks.create(request.actor, request.body, request.headers["idempotency-key"]);
      return reply
        .code(created ? 201 : 200)
        .header("location", routePath(TaskApiRoute.Task, { id: task.id }))
        .send(task);
    },
  );

  typed.patch(
    TaskApiRoute.Task,
    {
      bodyLimit: TASK_BODY_LIMIT,
      schema: {
        summary: "Change a task (null clears a field; a completed task set open or in_progress is reopened)",
        params: TaskIdParams,
        body: UpdateTaskBody.meta({ id: "UpdateTask" }),
        response: { 200: Task.describe("The task after the change."), ...writeAnswers, ...missing },
      },
    },
    async (request, reply) => (await tasks.update(request.actor, request.params.id, request.body)) ?? notFound(reply, request.params.id),
  );

  typed.post(
    TaskApiRoute.CompleteTask,
    {
      schema: { summary: "Complete a task", params: TaskIdParams, response: { 200: Task.describe("The completed task."), ...writeAnswers, ...missing } },
    },
    async (request, reply) => (await tasks.complete(request.actor, request.params.id)) ?? notFound(reply, request.params.id),
  );

  typed.delete(
    TaskApiRoute.Task,
    {
      schema: { summary: "Delete a task", params: TaskIdParams, response: { 204: z.null().describe("Deleted."), ...writeAnswers, ...missing } },
    },
    async (request, reply) => ((await tasks.delete(request.actor, request.params.id)) ? reply.code(204).send(null) : notFound(reply, request.params.id)),
  );
};

const reads = (scope: FastifyInstance, tasks: TaskService) => {
  const typed = scope.withTypeProvider<ZodTypeProvider>();

  typed.get(
    TaskApiRoute.Tasks,
    {
      schema: {
        summary: "The caller's tasks, a page at a time",
        querystring: ListTasksQuery,
        response: {
          200: z.object({ tasks: z.array(Task), next: z.string().optional().describe("The cursor of the next page; absent on the last.") }),
          ...common,
        },
      },
    },
    async (request) => tasks.list(request.actor, request.query),
  );

  typed.get(
    TaskApiRoute.Task,
    { schema: { summary: "A task", params: TaskIdParams, response: { 200: Task, ...common, ...missing } } },
    async (request, reply) => (await tasks.get(request.actor, request.params.id)) ?? notFound(reply, request.params.id),
  );

  typed.get(
    TaskApiRoute.TaskHistory,
    {
      schema: {
        summary: "The task's audit trail, oldest first, a page at a time",
        params: TaskIdParams,
        querystring: HistoryQuery,
        response: {
          200: z.object({ taskId: z.string(), entries: z.array(AuditEntry.meta({ id: "AuditEntry" })), next: z.string().optional() }),
          ...common,
          ...missing,
        },
      },
    },
    async (request, reply) => {
      const page = await tasks.history(request.actor, request.params.id, request.query);
      return page ? { taskId: request.params.id, ...page } : notFound(reply, request.params.id);
    },
  );
};

/** Someone else's task is as absent as a missing one. */
const notFound = (reply: FastifyReply, id: string) => reply.code(404).send({ error: "not found", reason: `no task ${id} for this user` });
