import { randomUUID } from "node:crypto";
import { z } from "zod";
import { parseConfig } from "../../shared/config.ts";
import { CosmosConfig, openCosmosDatabase } from "../../shared/cosmos.ts";
import { Service } from "../../shared/catalog/names.ts";
import { runFunction } from "../../shared/host/run.ts";
import { Admission } from "./admission.ts";
import { taskApi } from "./app.ts";
import { AuthConfig, createAuthenticator } from "./auth.ts";
import { OutboxRelay } from "./outbox.ts";
import { TaskStore } from "./store.ts";
import { TaskService } from "./tasks.ts";

const TaskApiConfig = z.object({
  /** This replica's name on outbox leases; the pod name in a cluster, so a restarted pod resumes its own at once. */
  OUTBOX_OWNER: z.string().min(1).max(200).default(() => randomUUID()),
  /** How long another replica waits before taking over the outbox of one that stopped writing. */
  OUTBOX_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  /**
   * Public requests worked on at once; beyond, 503 with Retry-After. With the machine saturated,
   * latency grows with this bound (bound ÷ throughput), not with the offered rate.
   */
  MAX_REQUESTS_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(32),
});

// Clients know task-api on PORT (default 8080); a runner that assigns APP_PORT wins.
process.env["APP_PORT"] ??= process.env["PORT"] ?? "8080";

await runFunction(Service.TaskApi, async ({ log, publisher, jobs, metrics }) => {
  const auth = parseConfig(AuthConfig);
  const cosmos = parseConfig(CosmosConfig);
  const { OUTBOX_OWNER, OUTBOX_LEASE_MS, MAX_REQUESTS_IN_FLIGHT } = parseConfig(TaskApiConfig);
  const store = await TaskStore.open(await openCosmosDatabase(cosmos));
  const refused = metrics.counter("taskapp_requests_refused_total", "Public requests refused with 503 and Retry-After (admission control).");
  const admission = new Admission({ maxInFlight: MAX_REQUESTS_IN_FLIGHT, retryAfterS: 1 }, () => refused.inc());
  const relay = new OutboxRelay(store, { publisher, jobs }, log, { owner: OUTBOX_OWNER, leaseMs: OUTBOX_LEASE_MS });
  metrics.gauge("taskapp_outbox_backlog", "Tasks with side effects still to carry out, in this replica's hands or expired elsewhere.", () => relay.backlog);
  metrics.gauge("taskapp_requests_in_flight", "Public requests task-api is working on.", () => admission.inFlight);
  return taskApi({
    tasks: new TaskService(store, relay),
    relay,
    authenticate: createAuthenticator(auth),
    admission,
    ...(process.env["APP_API_TOKEN"] ? { appApiToken: process.env["APP_API_TOKEN"] } : {}),
  });
});
