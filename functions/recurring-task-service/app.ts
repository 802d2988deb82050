import { Service } from "../../shared/catalog/names.ts";
import { BULK_DELIVERY_RELAXED, defineFunctionOf } from "../../shared/host/define.ts";
import type { TaskApiClient } from "../../shared/task-api-client.ts";
import { onTaskCompleted } from "./on-task-completed.ts";

export const recurringTaskService = defineFunctionOf(Service.RecurringTaskService, (deps: { tasks: TaskApiClient }) => ({
  consumers: [onTaskCompleted(deps)],
  bulk: BULK_DELIVERY_RELAXED,
}));
