import { z } from "zod";
import { parseConfig } from "../../shared/config.ts";
import { runFunction } from "../../shared/host/run.ts";
import { taskApiClient } from "../../shared/task-api-client.ts";
import { notificationService } from "./app.ts";
import { logChannel, webhookChannel } from "./channels.ts";

const NotifyConfig = z.object({
  /** Where reminders are POSTed; without it they only go to the log. */
  NOTIFY_WEBHOOK_URL: z.url().optional(),
  NOTIFY_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
});

await runFunction(notificationService, ({ log, invoker }) => {
  const config = parseConfig(NotifyConfig);
  return {
    channels: [...(config.NOTIFY_WEBHOOK_URL ? [webhookChannel(config.NOTIFY_WEBHOOK_URL, config.NOTIFY_WEBHOOK_TIMEOUT_MS)] : []), logChannel(log)],
    tasks: taskApiClient(invoker),
  };
});
