/**
 * What task-api's sidecar calls (on the app port, behind the app token the
 * host checks): reminder jobs coming due, and the internal API the consumers
 * reach by service invocation on behalf of a task's owner.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { TASK_API_CALLERS } from "../../shared/catalog/names.ts";
import { TaskApiRoute } from "../../shared/catalog/routes.ts";
import { TaskSnapshot } from "../../shared/catalog/task.ts";
import type { DeadLetterWriter } from "../../shared/host/dead-letters.ts";
import { HttpError } from "../../shared/host/errors.ts";
import type { Jobs } from "../../shared/host/jobs.ts";
import type { Logger } from "../../shared/logger.ts";
import { InternalCreateTaskBody, TaskId, UserId } from "./model.ts";
import { ErrorBody, TASK_BODY_LIMIT } from "./public-api.ts";
import { ReminderJob, reminderRetryJobName, type TaskService } from "./tasks.ts";

export interface SidecarApiDeps {
  tasks: TaskService;
  jobs: Jobs;
  deadLetters: DeadLetterWriter;
  log: Logger;
}

/** How long a reminder job whose handling keeps failing (its store out of reach) is tried before it is dead-lettered. */
export const REMINDER_RETRY_WINDOW_MS = 7 * 24 * 3_600_000;
/** The wait before a failed reminder is tried again: doubling from 10 s to 5 minutes. */
const retryDelayMs = (attempt: number) => Math.min(10_000 * 2 ** (attempt - 1), 300_000);

const InternalParams = z.object({ userId: UserId });
const InternalTaskParams = z.object({ userId: UserId, id: TaskId });
const InternalHeaders = z.object({
  "dapr-caller-app-id": z.string().optional(),
  "idempotency-key": z.string().min(1).max(200).optional(),
  "x-correlation-id": z
    .string()
    .regex(/^[\w.:-]{1,128}$/)
    .optional(),
});

export const sidecarApi =
  (deps: SidecarApiDeps) =>
  async (app: FastifyInstance): Promise<void> => {
    // The scheduler calls this when a reminder job is due: 2xx marks the job done, anything else
    // makes it retry (the job's failure policy). A reminder is never dropped silently: what cannot
    // be read is dead-lettered at once, what cannot be handled now is tried again by a retry job.
    app.post<{ Params: { name: string } }>("/job/:name", async (request) => {
      const { name } = request.params;
      const job = ReminderJob.safeParse(request.body);
      if (!job.success || !job.data.names.includes(name)) {
        const reason = job.success
          ? `job ${name} does not belong to task ${job.data.data.taskId}`
          : job.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
        request.log.error({ job: name, reason }, "unreadable reminder job: dead-lettered");
        await deps.deadLetters.record({ topic: `job:${name}`, kind: "invalid-data", reason, attempts: 1, original: { job: name, data: request.body ?? null } });
        return {};
      }
      const reminder = job.data.data;
      try {
        await deps.tasks.reminderDue(reminder);
        return {};
      } catch (err) {
        const attempt = (reminder.attempt ?? 0) + 1;
        const firstFailedAt = reminder.firstFailedAt ?? new Date().toISOString();
        if (Date.now() - Date.parse(firstFailedAt) > REMINDER_RETRY_WINDOW_MS) {
          request.log.error({ err, job: name, attempt }, "reminder could not be handled for a week: dead-lettered");
          await deps.deadLetters.record({
            topic: `job:${name}`,
            kind: "retries-exhausted",
            reason: String(err),
            attempts: attempt,
            original: { job: name, data: reminder },
          });
          return {};
        }
        // Not the scheduler's 10-minute failure policy: a retry job of our own outlasts any outage.
        // Its own name, so a reminder the user changes meanwhile is not overwritten by this old one.
        const delayMs = retryDelayMs(attempt);
        await deps.jobs.schedule(reminderRetryJobName(reminder.taskId, reminder.remindAt), {
          dueTime: new Date(Date.now() + delayMs).toISOString(),
          data: { ...reminder, attempt, firstFailedAt },
        });
        request.log.warn({ err, job: name, attempt, retryInMs: delayMs }, "reminder could not be handled now; a retry job will bring it back");
        return {};
      }
    });

    // Service invocation from the consumers, on behalf of a task's owner. Behind the app token,
    // the caller's app-id that daprd sets can be trusted; Dapr's access control allows the same apps.
    await app.register(async (internal) => {
      const typed = internal.withTypeProvider<ZodTypeProvider>();
      internal.addHook("onRequest", async (request) => {
        const caller = request.headers["dapr-caller-app-id"];
        if (typeof caller !== "string" || !(TASK_API_CALLERS as readonly string[]).includes(caller)) {
          throw new HttpError(403, {
            error: "forbidden",
            reason: `the internal API is for ${TASK_API_CALLERS.join(", ")}, not ${String(caller ?? "anonymous callers")}`,
          });
        }
      });
      const actorOf = (userId: string, correlationId: string | undefined) => ({ userId, correlationId: correlationId ?? randomUUID() });

      typed.post(
        TaskApiRoute.UserTasks,
        {
          bodyLimit: TASK_BODY_LIMIT,
          schema: { params: InternalParams, headers: InternalHeaders, body: InternalCreateTaskBody, response: { 200: TaskSnapshot, 201: TaskSnapshot } },
        },
        async (request, reply) => {
          const { task, created } = await deps.tasks.create(
            actorOf(request.params.userId, request.headers["x-correlation-id"]),
            request.body,
            request.headers["idempotency-key"],
          );
          return reply.code(created ? 201 : 200).send(task);
        },
      );

      typed.get(
        TaskApiRoute.UserTask,
        { schema: { params: InternalTaskParams, headers: InternalHeaders, response: { 200: TaskSnapshot, 404: ErrorBody } } },
        async (request, reply) => {
          const task = await deps.tasks.get(actorOf(request.params.userId, request.headers["x-correlation-id"]), request.params.id);
          return task ?? reply.code(404).send({ error: "not found", reason: `no task ${request.params.id} for this user` });
        },
      );
    });
  };
