/**
 * The faults of the fault matrix. Each one is a few steps placed in the
 * middle third of a load run (`at`: 0 is its start, 1 its end), with what the
 * run needs in place before the functions start (a proxy between the
 * functions' clients and a dependency, a second copy of a function).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CONSUMERS, Service } from "../../shared/catalog/names.ts";
import type { LoadSession } from "../load/session.ts";
import { startFaultProxy, type FaultProxy } from "../stack/fault-proxy.ts";
import type { RunningFunction } from "../stack/functions.ts";
import type { Stack } from "../stack/stack.ts";

export const FAULT_NAMES = [
  "none",
  "state-store",
  "cosmos",
  "task-api-kill",
  "task-api-takeover",
  "broker-restart",
  "consumer-rebalance",
  "scheduler-restart",
  "slow-receiver",
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export interface FaultStep {
  /** Where in the fault window it runs: 0 its start, 1 its end. */
  at: number;
  what: string;
  run(session: LoadSession): Promise<void>;
}

export interface Fault {
  name: FaultName;
  /** What the fault does, in a sentence (the report and docs/reliability.md). */
  description: string;
  /** Environment of the functions for this run, besides the load's. */
  env?(name: string): Record<string, string>;
  /** The load triples for the two seconds before the fault and the first after it (a burst to fall into). */
  burst?: boolean;
  /** Once the stack is up, before the functions start. */
  prepare?(stack: Stack): Promise<void>;
  /** Once the functions run, before the load starts. */
  ready?(session: LoadSession): Promise<void>;
  steps: FaultStep[];
  /** After the run, whatever happened. */
  close?(): Promise<void>;
}

export interface FaultOptions {
  /** task-api's outbox lease (OUTBOX_LEASE_MS) for the takeover case; the product's 30 s unless a test shortens it. */
  outboxLeaseMs?: number;
}

/** SIGKILLs a copy of a function, its app and its sidecar (the pod is gone), or its app alone. */
const kill = async (copy: RunningFunction, what: "app" | "pod"): Promise<void> => {
  await copy.app.stop("SIGKILL", 0);
  if (what === "pod") await copy.sidecar.process.stop("SIGKILL", 0);
};

/**
 * The sidecars' state store taken away: the local store is a SQLite file the
 * sidecars share, so another holder takes its write lock and keeps it. Every
 * write (an effect's claim, its done mark) then fails after the store's busy
 * timeout (5 s); reads still answer. Needs the sqlite3 command-line shell.
 */
const stateStore = (): Fault => {
  let holder: ChildProcessWithoutNullStreams | undefined;
  let db = "";
  return {
    name: "state-store",
    description: "the sidecars' state store refuses every write (claims, done marks) for the fault window: another holder keeps its write lock",
    async prepare(stack) {
      db = join(stack.dataDir, "state", "state.db");
    },
    steps: [
      {
        at: 0,
        what: "locking the state store",
        async run() {
          holder = spawn("sqlite3", [db], { stdio: ["pipe", "pipe", "pipe"] });
          const locked = new Promise<void>((resolve, reject) => {
            let out = "";
            holder!.stdout.on("data", (chunk: Buffer) => {
              out += chunk.toString("utf8");
              if (out.includes("locked")) resolve();
            });
            holder!.once("error", (err) => reject(new Error(`the sqlite3 shell is needed for this fault: ${err.message}`)));
            holder!.once("exit", (code) => reject(new Error(`sqlite3 exited (${code}) before it held the lock`)));
          });
          holder.stdin.write(".timeout 20000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n");
          await locked;
        },
      },
      { at: 1, what: "releasing the state store", run: () => release() },
    ],
    close: () => release(),
  };
  async function release(): Promise<void> {
    const h = holder;
    holder = undefined;
    if (!h || h.exitCode !== null) return;
    const exited = new Promise((r) => h.once("exit", r));
    h.stdin.end("ROLLBACK;\n.quit\n");
    await Promise.race([exited, sleep(5_000)]);
    if (h.exitCode === null) h.kill("SIGKILL");
  }
};

/** Cosmos DB behind a proxy for every function: refused for the first half of the window, accepting and never answering for the second. */
const cosmos = (): Fault => {
  let proxy: FaultProxy | undefined;
  return {
    name: "cosmos",
    description:
      "Cosmos DB out of reach for every function: connections refused for the first half of the fault window, accepted and never answered for the second",
    async prepare(stack) {
      proxy = await startFaultProxy({ port: Number(new URL(stack.cosmosEndpoint).port) });
    },
    env: () => ({ COSMOS_ENDPOINT: `https://127.0.0.1:${proxy!.port}` }),
    steps: [
      { at: 0, what: "Cosmos DB down", run: async () => proxy!.set("down") },
      { at: 0.5, what: "Cosmos DB stalled", run: async () => proxy!.set("stalled") },
      { at: 1, what: "Cosmos DB back", run: async () => proxy!.set("up") },
    ],
    close: async () => proxy?.close(),
  };
};

/** task-api's app SIGKILLed under load and started again at once (its sidecar stays), under the same outbox owner name, as a pod restarted by its kubelet. */
const taskApiKill = (): Fault => ({
  name: "task-api-kill",
  description: "task-api's process SIGKILLed mid-burst (3× the rate: writes in flight, outbox entries pending), started again at once under the same name",
  burst: true,
  env: (name): Record<string, string> => (name === Service.TaskApi ? { OUTBOX_OWNER: "task-api-0" } : {}),
  steps: [
    {
      at: 0,
      what: "SIGKILL task-api, start it again",
      async run(session) {
        const api = session.functions.get(Service.TaskApi)!;
        await kill(api, "app");
        await api.restartApp();
      },
    },
  ],
});

/**
 * Two copies of task-api; the one the load talks to dies with its sidecar and
 * stays dead, the load moves to the other (as a Service drops a dead pod's
 * endpoint), which takes the dead one's outboxes over once their lease runs out.
 */
const taskApiTakeover = (opts: FaultOptions): Fault => {
  const lease = String(opts.outboxLeaseMs ?? 30_000);
  return {
    name: "task-api-takeover",
    description: `two task-api copies; the sidecar of the one taking the load is SIGKILLed mid-burst (its relay fails, its outbox fills), then the app itself, and neither restarts: the other copy takes the outboxes over once their lease (${Number(lease) / 1000} s) runs out`,
    burst: true,
    env: (name): Record<string, string> => (name === Service.TaskApi ? { OUTBOX_OWNER: "task-api-a", OUTBOX_LEASE_MS: lease } : {}),
    async ready(session) {
      await session.startReplica(Service.TaskApi, "task-api-b", { OUTBOX_OWNER: "task-api-b", OUTBOX_LEASE_MS: lease });
    },
    steps: [
      {
        // Its relay fails from here on: the writes it still acknowledges leave their effects pending in its outbox.
        at: 0,
        what: "SIGKILL task-api-a's sidecar",
        run: (session) => session.functions.get(Service.TaskApi)!.sidecar.process.stop("SIGKILL", 0),
      },
      {
        at: 0.25,
        what: "SIGKILL task-api-a; the load goes to task-api-b",
        async run(session) {
          const dead = session.functions.get(Service.TaskApi)!;
          const survivor = session.replicas.get("task-api-b")!;
          session.functions.set(Service.TaskApi, survivor);
          session.replicas.delete("task-api-b");
          session.replicas.set("task-api-a (dead)", dead);
          await kill(dead, "app");
        },
      },
    ],
  };
};

/** The Kafka broker stopped and started again (same log dirs) under live consumer groups and task-api's relay. */
const brokerRestart = (): Fault => ({
  name: "broker-restart",
  description: "the Kafka broker stopped (SIGTERM) and started again on the same log dirs, consumer groups and task-api's relay live",
  steps: [
    {
      at: 0,
      what: "stopping the Kafka broker, then starting it again",
      async run(session) {
        const kafka = session.stack.kafka;
        if (!kafka) throw new Error("broker-restart needs the stack's own broker (unset KAFKA_BROKERS)");
        await kafka.stop();
        await sleep(3_000);
        await kafka.start();
      },
    },
  ],
});

/**
 * Two copies of each consumer sharing its group; the first is SIGKILLed with
 * its sidecar at the window's start, a third joins half-way: the group
 * rebalances twice while events flow.
 */
const consumerRebalance = (): Fault => ({
  name: "consumer-rebalance",
  description: "two copies of each consumer in its group; one SIGKILLed with its sidecar, a third added half-way: two rebalances mid-stream",
  async ready(session) {
    await Promise.all(CONSUMERS.map((name) => session.startReplica(name, `${name}-2`)));
  },
  steps: [
    {
      at: 0,
      what: "SIGKILL the first copy of each consumer",
      async run(session) {
        await Promise.all(
          CONSUMERS.map(async (name) => {
            const first = session.functions.get(name)!;
            const second = session.replicas.get(`${name}-2`)!;
            session.functions.set(name, second);
            session.replicas.delete(`${name}-2`);
            session.replicas.set(`${name} (dead)`, first);
            await kill(first, "pod");
          }),
        );
      },
    },
    {
      at: 0.5,
      what: "adding a third copy of each consumer",
      run: async (session) => void (await Promise.all(CONSUMERS.map((name) => session.startReplica(name, `${name}-3`)))),
    },
  ],
});

/** The Dapr scheduler stopped for the fault window, reminder jobs pending, then started again on its data. */
const schedulerRestart = (): Fault => ({
  name: "scheduler-restart",
  description: "the Dapr scheduler (the Jobs API's store and trigger) stopped for the fault window with reminder jobs pending, then started again on its data",
  steps: [
    { at: 0, what: "stopping the Dapr scheduler", run: (session) => session.stack.scheduler.stop() },
    { at: 1, what: "starting the Dapr scheduler again", run: (session) => session.stack.scheduler.start() },
  ],
});

/** The reminder receiver slower than the claim lease (15 s) for the first half of the window, answering 500 for the second. */
const slowReceiver = (): Fault => ({
  name: "slow-receiver",
  description:
    "the webhook receiver answers after 16 s (longer than the 15 s claim lease and the 5 s send timeout) for the first half of the window, 500 for the second",
  steps: [
    {
      at: 0,
      what: "receiver slow (16 s)",
      run: async (session) => void Object.assign(session.receiver.behaviour, { delayMs: 16_000, status: 204 }),
    },
    {
      at: 0.5,
      what: "receiver answering 500",
      run: async (session) => void Object.assign(session.receiver.behaviour, { delayMs: 0, status: 500 }),
    },
    {
      at: 1,
      what: "receiver healthy",
      run: async (session) => void Object.assign(session.receiver.behaviour, { delayMs: 0, status: 204 }),
    },
  ],
});

export const faultOf = (name: FaultName, opts: FaultOptions = {}): Fault => {
  switch (name) {
    case "none":
      return { name, description: "no fault: the load alone", steps: [] };
    case "state-store":
      return stateStore();
    case "cosmos":
      return cosmos();
    case "task-api-kill":
      return taskApiKill();
    case "task-api-takeover":
      return taskApiTakeover(opts);
    case "broker-restart":
      return brokerRestart();
    case "consumer-rebalance":
      return consumerRebalance();
    case "scheduler-restart":
      return schedulerRestart();
    case "slow-receiver":
      return slowReceiver();
  }
};
