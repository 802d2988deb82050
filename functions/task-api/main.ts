import { randomUUID } from "node:crypto";
import { z } from "zod";
import { TASK_API_PUBLIC_PORT } from "../../shared/catalog/ports.ts";
import { parseConfig } from "../../shared/config.ts";
import { CosmosConfig, openCosmosDatabase } from "../../shared/cosmos.ts";
import { deadLetterWriter } from "../../shared/host/dead-letters.ts";
import { runFunction } from "../../shared/host/run.ts";
import { Admission } from "./admission.ts";
import { taskApi } from "./app.ts";
import { AuthConfig, createAuthenticator } from "./auth.ts";
import { OutboxRelay } from "./outbox.ts";
import { TaskStore } from "./store.ts";
import { TaskService } from "./tasks.ts";

const TaskApiConfig = z.object({
  /** This replica's name on outbox leases; the pod name in a cluster, so a restarted pod resumes its own at once. */
  OUTBOX_OWNER: z
    .string()
    .min(1)
    .max(200)
    .default(() => randomUUID()),
  /** How long another replica waits before taking over the outbox of one that stopped writing. */
  OUTBOX_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  /**
   * Public requests worked on at once; beyond, 503 with Retry-After. With the machine saturated,
   * latency grows with this bound (bound ÷ throughput), not with the offered rate.
   */
  MAX_REQUESTS_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(32),
  /** Writes one user may send per minute; beyond, 429 with Retry-After. */
  WRITES_PER_USER_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(1_200),
  /**
   * Live (not deleted) tasks one user may keep; beyond, a create is 409. Unset: no cap. Each replica
   * counts a user's tasks (a single-partition query) at most every ten minutes; on the local Cosmos
   * DB server a count scans the whole container, so `npm run dev` and the load tests leave it unset.
   */
  MAX_LIVE_TASKS_PER_USER: z.coerce.number().int().min(1).max(10_000_000).optional(),
});

// Clients know task-api's public API on PORT (default 8080); a runner that assigns PUBLIC_PORT wins.
process.env["PUBLIC_PORT"] ??= process.env["PORT"] ?? String(TASK_API_PUBLIC_PORT);

await runFunction(taskApi, async ({ log, publisher, jobs, metrics }) => {
  const auth = parseConfig(AuthConfig);
  const cosmos = parseConfig(CosmosConfig);
  const config = parseConfig(TaskApiConfig);
  const store = await TaskStore.open(await openCosmosDatabase(cosmos));
  const refused = metrics.counter("taskapp_requests_refused_total", "Public requests refused with 503 and Retry-After (admission control).");
  const admission = new Admission({ maxInFlight: config.MAX_REQUESTS_IN_FLIGHT, retryAfterS: 1 }, () => refused.inc());
  const relay = new OutboxRelay(store, { publisher, jobs }, log, { owner: config.OUTBOX_OWNER, leaseMs: config.OUTBOX_LEASE_MS });
  metrics.gauge("taskapp_outbox_backlog", "Tasks with side effects still to carry out, in this replica's hands or expired elsewhere.", () => relay.backlog);
  metrics.gauge("taskapp_requests_in_flight", "Public requests task-api is working on.", () => admission.inFlight);
  return {
    tasks: new TaskService(store, relay, { maxLiveTasks: config.MAX_LIVE_TASKS_PER_USER }),
    relay,
    jobs,
    deadLetters: deadLetterWriter(taskApi.name, publisher),
    authenticate: createAuthenticator(auth),
    admission,
    writesPerMinute: config.WRITES_PER_USER_PER_MINUTE,
    log,
  };
});
