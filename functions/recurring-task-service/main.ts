import { Service } from "../../shared/catalog/names.ts";
import { runFunction } from "../../shared/host/run.ts";
import { taskApiClient } from "../../shared/task-api-client.ts";
import { recurringTaskService } from "./app.ts";

await runFunction(Service.RecurringTaskService, ({ invoker }) => recurringTaskService({ tasks: taskApiClient(invoker) }));
