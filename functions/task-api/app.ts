/**
 * task-api: the HTTP trigger for task writes and the owner of reminder jobs.
 * Its routes by audience: the public API (public-api.ts, the port the Ingress
 * reaches) and what its sidecar calls (sidecar-api.ts: reminder jobs, the
 * consumers' internal API). Built from its dependencies so tests can drive it
 * with `inject` or through its real sidecar.
 */
import { Service } from "../../shared/catalog/names.ts";
import { isCosmosUnavailable } from "../../shared/cosmos.ts";
import type { DeadLetterWriter } from "../../shared/host/dead-letters.ts";
import { defineFunctionOf } from "../../shared/host/define.ts";
import { HttpError, serviceBusy } from "../../shared/host/errors.ts";
import type { Jobs } from "../../shared/host/jobs.ts";
import type { Logger } from "../../shared/logger.ts";
import type { Admission } from "./admission.ts";
import type { Authenticate } from "./auth.ts";
import type { OutboxRelay } from "./outbox.ts";
import { publicApi } from "./public-api.ts";
import { sidecarApi } from "./sidecar-api.ts";
import { ConflictError, InvalidCursor } from "./store.ts";
import type { TaskService } from "./tasks.ts";

export interface TaskApiDeps {
  tasks: TaskService;
  relay: OutboxRelay;
  jobs: Jobs;
  deadLetters: DeadLetterWriter;
  authenticate: Authenticate;
  /** Bounds the public requests worked on at once (503 with Retry-After beyond). */
  admission: Admission;
  /** Writes one user may send per minute (429 with Retry-After beyond). */
  writesPerMinute: number;
  log: Logger;
}

export const taskApi = defineFunctionOf(Service.TaskApi, (deps: TaskApiDeps) => ({
  consumers: [],
  publicRoutes: publicApi(deps),
  sidecarRoutes: sidecarApi(deps),
  httpErrors,
  background: { start: () => deps.relay.start(), stop: () => deps.relay.stop() },
}));

/** task-api's own failures: the store busy or out of reach is 503 (never 500); a cursor it did not hand out is 400. */
const httpErrors = (err: unknown): HttpError | undefined => {
  if (isCosmosUnavailable(err) || err instanceof ConflictError) return serviceBusy("the task store is busy or out of reach; try again in 1 s");
  if (err instanceof InvalidCursor) {
    return new HttpError(400, { error: "invalid request", issues: [{ in: "querystring", field: "cursor", message: err.message }] });
  }
  return undefined;
};
