/** The OpenAPI 3.1 document of task-api, derived from the same zod schemas that validate requests. */
import { z } from "zod";
import { TaskSnapshot } from "../../shared/catalog/task.ts";
import { CreateTaskBody, ListTasksQuery, UpdateTaskBody } from "./model.ts";

const schemaOf = (schema: z.ZodType, io: "input" | "output") => {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return json;
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { "application/json": { schema } } });
const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } };
const errors = {
  "400": { description: "Invalid request: every bad field named", ...json(ref("Error")) },
  "401": { description: "Missing or invalid bearer token", ...json(ref("Error")) },
  "404": { description: "No such task for this user", ...json(ref("Error")) },
};

let cached: object | undefined;

export const openApiDocument = (): object =>
  (cached ??= {
    openapi: "3.1.0",
    info: { title: "task-api", version: "1.0.0", description: "Task writes; every change is published as a CloudEvent." },
    security: [{ bearer: [] }],
    paths: {
      "/tasks": {
        post: {
          summary: "Create a task",
          parameters: [{ name: "Idempotency-Key", in: "header", schema: { type: "string", maxLength: 200 } }],
          requestBody: { required: true, ...json(ref("CreateTask")) },
          responses: {
            "201": { description: "Created", ...json(ref("Task")) },
            "200": { description: "Replay of an earlier create with the same Idempotency-Key", ...json(ref("Task")) },
            "422": { description: "Idempotency-Key reused with a different request", ...json(ref("Error")) },
            ...errors,
          },
        },
        get: {
          summary: "The caller's tasks",
          parameters: Object.entries((schemaOf(ListTasksQuery, "input").properties ?? {}) as Record<string, object>).map(
            ([name, schema]) => ({ name, in: "query", schema }),
          ),
          responses: { "200": { description: "Tasks", ...json({ type: "object", properties: { tasks: { type: "array", items: ref("Task") } } }) }, ...errors },
        },
      },
      "/tasks/{id}": {
        get: { summary: "A task", parameters: [idParam], responses: { "200": { description: "The task", ...json(ref("Task")) }, ...errors } },
        patch: {
          summary: "Change a task (null clears a field)",
          parameters: [idParam],
          requestBody: { required: true, ...json(ref("UpdateTask")) },
          responses: { "200": { description: "The task after the change", ...json(ref("Task")) }, ...errors },
        },
        delete: { summary: "Delete a task", parameters: [idParam], responses: { "204": { description: "Deleted" }, ...errors } },
      },
      "/tasks/{id}/complete": {
        post: { summary: "Complete a task", parameters: [idParam], responses: { "200": { description: "The completed task", ...json(ref("Task")) }, ...errors } },
      },
      "/tasks/{id}/history": {
        get: { summary: "The task's audit trail, oldest first", parameters: [idParam], responses: { "200": { description: "Audit entries" }, ...errors } },
      },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: {
        Task: schemaOf(TaskSnapshot, "output"),
        CreateTask: schemaOf(CreateTaskBody, "input"),
        UpdateTask: schemaOf(UpdateTaskBody, "input"),
        Error: {
          type: "object",
          properties: {
            error: { type: "string" },
            issues: {
              type: "array",
              items: { type: "object", properties: { in: { type: "string" }, field: { type: "string" }, message: { type: "string" } } },
            },
          },
          required: ["error"],
        },
      },
    },
  });
