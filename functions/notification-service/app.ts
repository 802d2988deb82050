import { Service } from "../../shared/catalog/names.ts";
import { BULK_DELIVERY, defineFunction, type FunctionDef } from "../../shared/host/define.ts";
import type { TaskApiClient } from "../../shared/task-api-client.ts";
import type { Channel } from "./channels.ts";
import { onReminderDue } from "./on-reminder-due.ts";

export const notificationService = (deps: { channels: Channel[]; tasks: TaskApiClient }): FunctionDef =>
  defineFunction({ name: Service.NotificationService, consumers: [onReminderDue(deps)], bulk: BULK_DELIVERY });
