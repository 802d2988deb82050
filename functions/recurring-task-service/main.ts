import { runFunction } from "../../shared/host/run.ts";
import { taskApiClient } from "../../shared/task-api-client.ts";
import { recurringTaskService } from "./app.ts";

await runFunction(recurringTaskService, ({ invoker }) => ({ tasks: taskApiClient(invoker) }));
