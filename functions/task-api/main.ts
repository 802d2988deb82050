import { randomUUID } from "node:crypto";
import { z } from "zod";
import { parseConfig } from "../../shared/config.ts";
import { CosmosConfig, openCosmosDatabase } from "../../shared/cosmos.ts";
import { Service } from "../../shared/catalog/names.ts";
import { runFunction } from "../../shared/host/run.ts";
import { taskApi } from "./app.ts";
import { AuthConfig, createAuthenticator } from "./auth.ts";
import { OutboxRelay } from "./outbox.ts";
import { TaskStore } from "./store.ts";
import { TaskService } from "./tasks.ts";

const RelayConfig = z.object({
  /** This replica's name on outbox leases; the pod name in a cluster, so a restarted pod resumes its own at once. */
  OUTBOX_OWNER: z.string().min(1).max(200).default(() => randomUUID()),
  /** How long another replica waits before taking over the outbox of one that stopped writing. */
  OUTBOX_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
});

// Clients know task-api on PORT (default 8080); a runner that assigns APP_PORT wins.
process.env["APP_PORT"] ??= process.env["PORT"] ?? "8080";

await runFunction(Service.TaskApi, async ({ log, publisher, jobs, metrics }) => {
  const auth = parseConfig(AuthConfig);
  const cosmos = parseConfig(CosmosConfig);
  const store = await TaskStore.open(await openCosmosDatabase(cosmos));
  const { OUTBOX_OWNER, OUTBOX_LEASE_MS } = parseConfig(RelayConfig);
  const relay = new OutboxRelay(store, { publisher, jobs }, log, { owner: OUTBOX_OWNER, leaseMs: OUTBOX_LEASE_MS });
  metrics.gauge("taskapp_outbox_backlog", "Tasks with side effects still to carry out, as of the last outbox sweep.", () => relay.backlog);
  return taskApi({
    tasks: new TaskService(store, relay),
    relay,
    authenticate: createAuthenticator(auth),
    ...(process.env["APP_API_TOKEN"] ? { appApiToken: process.env["APP_API_TOKEN"] } : {}),
  });
});
