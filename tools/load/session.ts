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

/** Stands in for the users' reminder endpoint: counts the POSTs per task. */
export interface ReminderReceiver {
  url: string;
  posts: Map<string, number>;
  close(): Promise<void>;
}

export const startReminderReceiver = async (): Promise<ReminderReceiver> => {
  const posts = new Map<string, number>();
  const app = Fastify();
  app.post("/hook", async (request, reply) => {
    const { taskId } = request.body as { taskId: string };
    posts.set(taskId, (posts.get(taskId) ?? 0) + 1);
    return reply.code(204).send();
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  return { url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`, posts, close: () => app.close() };
};

export interface ConsumerLag {
  service: string;
  lag: number;
  /** Records on its dead-letter topic. */
  deadLetters: number;
}

export class LoadSession {
  readonly functions = new Map<string, RunningFunction>();
  readonly cpu = new CpuMeter(liveProcesses);
  private readonly offsets: KafkaReader;

  private constructor(
    readonly stack: Stack,
    readonly receiver: ReminderReceiver,
    private readonly authSecret: string,
  ) {
    this.offsets = new KafkaReader(plainKafkaAccess(stack.kafkaBrokers), "load");
  }

  /** Starts the stack in `.data/<name>` and every function. */
  static async start(opts: { name: string; log?: (line: string) => void }): Promise<LoadSession> {
    const stack = await startStack({ dataDir: join(repoRoot, ".data", opts.name), ports: "free", fresh: true, ...(opts.log ? { log: opts.log } : {}) });
    try {
      const session = new LoadSession(stack, await startReminderReceiver(), randomUUID() + randomUUID());
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
    if (name === Service.TaskApi) return { AUTH_JWT_SECRET: this.authSecret };
    if (name === Service.NotificationService) return { NOTIFY_WEBHOOK_URL: this.receiver.url };
    return {};
  }

  async startFunction(name: string): Promise<void> {
    this.functions.set(name, await startFunction(this.stack, name, { env: this.envOf(name) }));
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
    const [snapshots, dlt] = await Promise.all([
      this.offsets.groups(groups),
      this.offsets.logEnds(CONSUMERS.map(deadLetterTopicOf)),
    ]);
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
    await Promise.all([...this.functions.values()].map((f) => f.stop().catch(() => undefined)));
    await this.offsets.close().catch(() => undefined);
    await this.receiver.close();
    await this.stack.stop();
  }
}
