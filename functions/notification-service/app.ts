import { Service } from "../../shared/catalog/names.ts";
import { BULK_DELIVERY, defineFunctionOf } from "../../shared/host/define.ts";
import type { TaskApiClient } from "../../shared/task-api-client.ts";
import type { Channel } from "./channels.ts";
import { onReminderDue } from "./on-reminder-due.ts";

export const notificationService = defineFunctionOf(Service.NotificationService, (deps: { channels: Channel[]; tasks: TaskApiClient }) => ({
  consumers: [onReminderDue(deps)],
  bulk: BULK_DELIVERY,
}));
