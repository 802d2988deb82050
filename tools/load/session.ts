/**
 * The system under load: its own stack (Kafka, scheduler, Cosmos server) on
 * free ports, every function with its daprd, a webhook receiver standing in
 * for the users' reminder endpoint, bearer tokens for the load's users, and
 * the meters a run reads (CPU per process, consumer lag, Cosmos requests).
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import Fastify from "fastify";
import { mintToken } from "../../functions/task-api/auth.ts";
import { CONSUMERS, deadLetterTopicOf, Service, TOPIC_CONSUMERS, type ServiceName, type TopicName } from "../../shared/catalog/names.ts";
import { KafkaReader, plainKafkaAccess } from "../../shared/kafka.ts";
import { readCosmosStats } from "../stack/cosmos.ts";
import type { CosmosStats } from "../stack/cosmos-cost.ts";
import { CpuMeter } from "../stack/cpu.ts";
import { startFunction, type RunningFunction } from "../stack/functions.ts";
import { liveProcesses } from "../stack/process.ts";
import { repoRoot } from "../stack/paths.ts";
import { startStack, type Stack } from "../stack/stack.ts";

/** The functions a load run drives: task-api and the three consumers. */
export const LOAD_FUNCTIONS: readonly ServiceName[] = [Service.TaskApi, ...CONSUMERS];

/** How the receiver answers: at once with 204, after a delay, or with an error status. */
export interface ReceiverBehaviour {
  delayMs: number;
  status: number;
}

/**
 * Stands in for the users' reminder endpoint, de-duplicating by Idempotency-Key as the contract
 * asks receivers to: `posts` counts the reminders per task (distinct keys, a POST without a key
 * counts on its own), `repeats` the POSTs per task that carried a key it had already seen.
 */
export interface ReminderReceiver {
  url: string;
  posts: Map<string, number>;
  repeats: Map<string, number>;
  /** Changed by fault runs: a slow receiver, or one that answers 500 for a while. */
  behaviour: ReceiverBehaviour;
  close(): Promise<void>;
}

export const startReminderReceiver = async (): Promise<ReminderReceiver> => {
  const posts = new Map<string, number>();
  const repeats = new Map<string, number>();
  const seen = new Set<string>();
  const behaviour: ReceiverBehaviour = { delayMs: 0, status: 204 };
  const app = Fastify();
  app.post("/hook", async (request, reply) => {
    const { taskId } = request.body as { taskId: string };
    const key = request.headers["idempotency-key"];
    if (typeof key === "string" && seen.has(key)) {
      repeats.set(taskId, (repeats.get(taskId) ?? 0) + 1);
    } else {
      if (typeof key === "string") seen.add(key);
      posts.set(taskId, (posts.get(taskId) ?? 0) + 1);
    }
    const { delayMs, status } = behaviour;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    return reply.code(status).send();
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  return {
    url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`,
    posts,
    repeats,
    behaviour,
    close: () => app.close(),
  };
};

export interface ConsumerLag {
  service: string;
  lag: number;
  /** Records on its dead-letter topic. */
  deadLetters: number;
}

export interface LoadSessionOptions {
  /** Names its data directory: `.data/<name>`. */
  name: string;
  log?: (line: string) => void;
  /** Environment of a function besides what the session gives it (a fault run points a function at a proxy, say). */
  env?: (name: string) => Record<string, string>;
  /** Runs once the stack is up, before any function starts (a fault run puts its proxies in place). */
  prepare?: (stack: Stack) => Promise<void>;
}

export class LoadSession {
  /** One running copy per function: the one the load talks to (task-api) or the first of its consumer group. */
  readonly functions = new Map<string, RunningFunction>();
  /** Further copies of a function (by instance name), started by a fault run. */
  readonly replicas = new Map<string, RunningFunction>();
  readonly cpu = new CpuMeter(liveProcesses);
  private readonly offsets: KafkaReader;

  private constructor(
    readonly stack: Stack,
    readonly receiver: ReminderReceiver,
    private readonly authSecret: string,
    private readonly extraEnv: (name: string) => Record<string, string> = () => ({}),
  ) {
    this.offsets = new KafkaReader(plainKafkaAccess(stack.kafkaBrokers), "load");
  }

  /** Starts the stack in `.data/<name>` and every function. */
  static async start(opts: LoadSessionOptions): Promise<LoadSession> {
    const stack = await startStack({ dataDir: join(repoRoot, ".data", opts.name), ports: "free", fresh: true, ...(opts.log ? { log: opts.log } : {}) });
    try {
      await opts.prepare?.(stack);
      const session = new LoadSession(stack, await startReminderReceiver(), randomUUID() + randomUUID(), opts.env);
      await Promise.all(LOAD_FUNCTIONS.map((name) => session.startFunction(name)));
      return session;
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }

  /** `count` users named `<prefix>-<n>`, each with a bearer token for task-api. */
  async users(prefix: string, count: number): Promise<Map<string, string>> {
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    return new Map(await Promise.all(names.map(async (u) => [u, await mintToken(this.authSecret, u, "24h")] as const)));
  }

  get api(): string {
    return `http://127.0.0.1:${this.functions.get(Service.TaskApi)!.publicPort}`;
  }

  envOf(name: string): Record<string, string> {
    const own: Record<string, string> =
      name === Service.TaskApi ? { AUTH_JWT_SECRET: this.authSecret } : name === Service.NotificationService ? { NOTIFY_WEBHOOK_URL: this.receiver.url } : {};
    return { ...own, ...this.extraEnv(name) };
  }

  async startFunction(name: string): Promise<void> {
    this.functions.set(name, await startFunction(this.stack, name, { env: this.envOf(name) }));
  }

  /** Starts one more copy of a function (same app-id, so a consumer's copies share its group) named `instance`. */
  async startReplica(name: string, instance: string, env: Record<string, string> = {}): Promise<RunningFunction> {
    const copy = await startFunction(this.stack, name, { instance, env: { ...this.envOf(name), ...env } });
    this.replicas.set(instance, copy);
    return copy;
  }

  /** Functions of the load not running now (stopped by a scenario). */
  missingFunctions(): string[] {
    return LOAD_FUNCTIONS.filter((name) => !this.functions.has(name));
  }

  async stopFunction(name: string): Promise<void> {
    const running = this.functions.get(name);
    this.functions.delete(name);
    await running?.stop();
  }

  /** Lag and dead letters per consumer, from Kafka offsets (never-committed partitions count whole). */
  async lag(): Promise<ConsumerLag[]> {
    const groups = CONSUMERS.map((service) => ({
      group: service,
      topics: (Object.keys(TOPIC_CONSUMERS) as TopicName[]).filter((t) => TOPIC_CONSUMERS[t].includes(service)),
    }));
    const [snapshots, dlt] = await Promise.all([this.offsets.groups(groups), this.offsets.logEnds(CONSUMERS.map(deadLetterTopicOf))]);
    return snapshots.map((snap) => ({
      service: snap.group,
      lag: [...snap.topics.values()].flat().reduce((sum, p) => sum + p.logEnd - (p.committed ?? 0), 0),
      deadLetters: [...(dlt.get(deadLetterTopicOf(snap.group))?.values() ?? [])].reduce((a, b) => a + b, 0),
    }));
  }

  cosmosStats(): Promise<CosmosStats> {
    return readCosmosStats(this.stack.cosmosStatsUrl!);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.functions.values(), ...this.replicas.values()].map((f) => f.stop().catch(() => undefined)));
    await this.offsets.close().catch(() => undefined);
    await this.receiver.close();
    await this.stack.stop();
  }
}
