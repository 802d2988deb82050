import { Service } from "../../shared/catalog/names.ts";
import { BULK_DELIVERY_RELAXED, defineFunction, type FunctionDef } from "../../shared/host/define.ts";
import type { TaskApiClient } from "../../shared/task-api-client.ts";
import { onTaskCompleted } from "./on-task-completed.ts";

export const recurringTaskService = (deps: { tasks: TaskApiClient }): FunctionDef =>
  defineFunction({ name: Service.RecurringTaskService, consumers: [onTaskCompleted(deps)], bulk: BULK_DELIVERY_RELAXED });
