/**
 * The one Kafka admin client of the project: offsets, groups and topic metadata for lag-dashboard,
 * the dead-letter tool, the stack runner, the load and bench tools and the tests. It never
 * produces or consumes records: events go through Dapr (only tests read records directly, with
 * tools/stack/topic-reader.ts). Its only writes touch the dead-letter tool's own consumer groups.
 *
 * It reaches the brokers with the same cluster and credentials as the functions' pub/sub
 * component. In clusters the settings come from the objects KEDA's TriggerAuthentication reads too
 * (docs/deploy.md): the Secret kafka-credentials (username, password) and the ConfigMap kafka-auth
 * (sasl, tls), so KEDA's spellings are accepted as well as the usual ones.
 */
import { Kafka, logLevel, type Admin, type SASLOptions } from "kafkajs";
import { z } from "zod";

/** SASL mechanisms, by every name they go by here, to kafkajs's name. */
const MECHANISMS = {
  plain: "plain",
  plaintext: "plain", // KEDA's name for SASL/PLAIN (Confluent Cloud API keys)
  "scram-sha-256": "scram-sha-256",
  scram_sha256: "scram-sha-256",
  "scram-sha-512": "scram-sha-512",
  scram_sha512: "scram-sha-512",
} as const;
export type KafkaSaslMechanism = (typeof MECHANISMS)[keyof typeof MECHANISMS];
type Mechanism = KafkaSaslMechanism;

const isMechanismName = (name: string): name is keyof typeof MECHANISMS => Object.hasOwn(MECHANISMS, name);

/** true/false, or KEDA's enable/disable. */
const TLS_VALUES: Readonly<Record<string, boolean>> = { true: true, enable: true, false: false, disable: false };

export const KafkaAccessConfig = z
  .object({
    /** host:port[,host:port…] of the cluster the pub/sub component uses. */
    KAFKA_BROKERS: z.string().min(1),
    /** plain | scram-sha-256 | scram-sha-512 (or KEDA's plaintext | scram_sha256 | scram_sha512); none or unset: no SASL. */
    KAFKA_SASL_MECHANISM: z
      .string()
      .trim()
      .toLowerCase()
      .optional()
      .transform((value, ctx): Mechanism | undefined => {
        if (value === undefined || value === "" || value === "none") return undefined;
        if (isMechanismName(value)) return MECHANISMS[value];
        ctx.addIssue({ code: "custom", message: `unknown SASL mechanism "${value}" (plain, scram-sha-256 or scram-sha-512)` });
        return z.NEVER;
      }),
    KAFKA_SASL_USERNAME: z.string().min(1).optional(),
    KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
    /** TLS to the brokers: true/false (or KEDA's enable/disable). Managed clusters need it. */
    KAFKA_TLS: z
      .string()
      .trim()
      .toLowerCase()
      .default("false")
      .transform((value, ctx): boolean => {
        const tls = TLS_VALUES[value];
        if (tls !== undefined) return tls;
        ctx.addIssue({ code: "custom", message: `"${value}" is not true, false, enable or disable` });
        return z.NEVER;
      }),
  })
  .superRefine((config, ctx) => {
    if (!config.KAFKA_SASL_MECHANISM) return;
    for (const key of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const) {
      if (!config[key]) ctx.addIssue({ code: "custom", path: [key], message: `required with KAFKA_SASL_MECHANISM=${config.KAFKA_SASL_MECHANISM}` });
    }
  });
export type KafkaAccessConfig = z.output<typeof KafkaAccessConfig>;

/**
 * How Dapr's Kafka component (components-contrib 1.18, common/component/kafka/auth.go) spells each
 * mechanism in its `saslMechanism` metadata: "SHA-256" and "SHA-512" select SCRAM; anything else,
 * "SCRAM-SHA-256" included, silently falls back to PLAIN.
 */
export const DAPR_SASL_MECHANISM: Readonly<Record<KafkaSaslMechanism, string>> = {
  plain: "PLAIN",
  "scram-sha-256": "SHA-256",
  "scram-sha-512": "SHA-512",
};

/** How KEDA's Kafka scaler spells each mechanism (its TriggerAuthentication's `sasl`, the ConfigMap kafka-auth). */
export const KEDA_SASL_MECHANISM: Readonly<Record<KafkaSaslMechanism, string>> = {
  plain: "plaintext",
  "scram-sha-256": "scram_sha256",
  "scram-sha-512": "scram_sha512",
};

/** What the Kafka client is given: brokers, TLS on or off, SASL credentials if any. */
export interface KafkaAccess {
  brokers: string[];
  ssl: boolean;
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
}

/** A broker on loopback without TLS or SASL (the local stack's). */
export const plainKafkaAccess = (brokers: string): KafkaAccess => ({ brokers: splitBrokers(brokers), ssl: false });

const splitBrokers = (brokers: string): string[] =>
  brokers
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");

export const kafkaAccessOf = (config: KafkaAccessConfig): KafkaAccess => {
  const mechanism = config.KAFKA_SASL_MECHANISM;
  return {
    brokers: splitBrokers(config.KAFKA_BROKERS),
    ssl: config.KAFKA_TLS,
    ...(mechanism ? { sasl: { mechanism, username: config.KAFKA_SASL_USERNAME ?? "", password: config.KAFKA_SASL_PASSWORD ?? "" } } : {}),
  };
};

const saslOptionsOf = ({ mechanism, username, password }: NonNullable<KafkaAccess["sasl"]>): SASLOptions =>
  // Two branches so each literal matches its kafkajs type (PLAIN or SCRAM).
  mechanism === "plain" ? { mechanism, username, password } : { mechanism, username, password };

/**
 * A kafkajs admin client for `access`. Only this module and the stack runner's topic creation
 * (tools/stack/kafka.ts) use one.
 */
export const kafkaAdmin = (access: KafkaAccess, clientId: string, opts: { retries?: number } = {}): Admin =>
  new Kafka({
    clientId,
    brokers: access.brokers,
    ssl: access.ssl,
    ...(access.sasl ? { sasl: saslOptionsOf(access.sasl) } : {}),
    logLevel: logLevel.NOTHING,
    retry: { retries: opts.retries ?? 1 },
    connectionTimeout: 3_000,
    authenticationTimeout: 5_000,
  }).admin();

/**
 * What went wrong reaching Kafka, in words an operator can act on: refused credentials are said
 * so (kafkajs gives up on them at once, no retry), an unreachable broker names the brokers.
 */
export const kafkaProblem = (err: unknown, access: KafkaAccess): string => {
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "KafkaJSSASLAuthenticationError" || /SASL|authentication/i.test(message)) {
    return `Kafka at ${access.brokers.join(",")} refused the credentials (SASL ${access.sasl?.mechanism ?? "none"}${access.sasl ? `, user ${access.sasl.username}` : ""}): ${message}`;
  }
  if (name === "KafkaJSConnectionError" || name === "KafkaJSNumberOfRetriesExceeded" || /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|Connection/i.test(message)) {
    return `Kafka at ${access.brokers.join(",")} does not answer${access.ssl ? " over TLS" : ""}: ${message}`;
  }
  return message;
};

/** Log-start (oldest retained) and log-end offsets of one partition. */
export interface PartitionBounds {
  start: number;
  end: number;
}

/** A partition as a consumer group sees it: its bounds and the group's committed offset (undefined: none). */
export interface GroupPartition {
  partition: number;
  logEnd: number;
  logStart: number;
  committed: number | undefined;
}

export interface GroupSnapshot {
  group: string;
  /** Consumers currently in the group (0 = nothing running). */
  members: number;
  state: string;
  topics: Map<string, GroupPartition[]>;
}

/**
 * Offsets from Kafka through an admin client: log-start and log-end offsets per partition,
 * committed offsets and members per consumer group, topic names. It connects on first use.
 * Its only writes are to consumer groups that have no members: removing the dead-letter tool's
 * own after a run, and moving the bookmark of what operators acknowledged (DEAD_LETTERS_ACKNOWLEDGED).
 * It never produces or consumes a record.
 */
export class KafkaReader {
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;

  constructor(
    readonly access: KafkaAccess,
    clientId: string,
  ) {
    this.admin = kafkaAdmin(access, clientId);
  }

  private async ready(): Promise<Admin> {
    this.connected ??= this.admin.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw new Error(kafkaProblem(err, this.access), { cause: err });
    });
    await this.connected;
    return this.admin;
  }

  /** True once the cluster answers metadata requests with at least one broker. */
  async reachable(): Promise<boolean> {
    const admin = await this.ready();
    return (await admin.describeCluster()).brokers.length > 0;
  }

  async topics(): Promise<string[]> {
    return (await this.ready()).listTopics();
  }

  /** Log-start and log-end offsets per partition of each topic. */
  async bounds(topics: readonly string[]): Promise<Map<string, Map<number, PartitionBounds>>> {
    const admin = await this.ready();
    const result = new Map<string, Map<number, PartitionBounds>>();
    await Promise.all(
      topics.map(async (topic) => {
        const offsets = await admin.fetchTopicOffsets(topic);
        result.set(topic, new Map(offsets.map((o) => [o.partition, { start: Number(o.low), end: Number(o.high) }])));
      }),
    );
    return result;
  }

  /** Log-end offset per partition of each topic. */
  async logEnds(topics: readonly string[]): Promise<Map<string, Map<number, number>>> {
    const bounds = await this.bounds(topics);
    return new Map([...bounds].map(([topic, partitions]) => [topic, new Map([...partitions].map(([p, b]) => [p, b.end]))]));
  }

  /** Records a topic holds now (log-end minus log-start, over its partitions). */
  async retained(topic: string): Promise<number> {
    const bounds = (await this.bounds([topic])).get(topic) ?? new Map<number, PartitionBounds>();
    return [...bounds.values()].reduce((sum, b) => sum + (b.end - b.start), 0);
  }

  /** Sum of a topic's log-end offsets: grows by one per record written. */
  async endOffsetTotal(topic: string): Promise<number> {
    const ends = (await this.logEnds([topic])).get(topic) ?? new Map<number, number>();
    return [...ends.values()].reduce((sum, end) => sum + end, 0);
  }

  /** A group's committed offset per partition of each topic (partitions without one left out). */
  async committed(group: string, topics: readonly string[]): Promise<Map<string, Map<number, number>>> {
    const admin = await this.ready();
    const committed = await admin.fetchOffsets({ groupId: group, topics: [...topics] });
    return new Map(committed.map((c) => [c.topic, new Map(c.partitions.filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, Number(p.offset)]))]));
  }

  /** The consumer groups that exist. */
  async groupIds(): Promise<string[]> {
    return (await (await this.ready()).listGroups()).groups.map((g) => g.groupId);
  }

  /** Committed offsets and membership of each group, for the given topics. */
  async groups(groups: { group: string; topics: string[] }[]): Promise<GroupSnapshot[]> {
    const admin = await this.ready();
    const allTopics = [...new Set(groups.flatMap((g) => g.topics))];
    const [ends, described] = await Promise.all([this.bounds(allTopics), admin.describeGroups(groups.map((g) => g.group))]);
    return Promise.all(
      groups.map(async ({ group, topics }) => {
        const commits = await this.committed(group, topics);
        const byTopic = new Map<string, GroupPartition[]>();
        for (const topic of topics) {
          const bounds = ends.get(topic) ?? new Map<number, PartitionBounds>();
          byTopic.set(
            topic,
            [...bounds.entries()]
              .sort(([a], [b]) => a - b)
              .map(([partition, { start, end }]) => ({ partition, logEnd: end, logStart: start, committed: commits.get(topic)?.get(partition) })),
          );
        }
        const info = described.groups.find((g) => g.groupId === group);
        return { group, members: info?.members.length ?? 0, state: info?.state ?? "Unknown", topics: byTopic };
      }),
    );
  }

  /**
   * Sets a group's committed offsets on `topic` (the group must have no members): the dead-letter
   * tool's acknowledgement bookmark. Offsets only move forward: a partition already past its
   * given offset keeps its own.
   */
  async commitOffsets(group: string, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    const admin = await this.ready();
    const current = (await this.committed(group, [topic])).get(topic) ?? new Map<number, number>();
    const partitions = [...offsets]
      .filter(([partition, offset]) => offset > (current.get(partition) ?? -1))
      .map(([partition, offset]) => ({ partition, offset: String(offset) }));
    if (partitions.length > 0) await admin.setOffsets({ groupId: group, topic, partitions });
  }

  /**
   * Records of `topic` beyond `group`'s committed offsets (from the oldest retained record where
   * it has none): what that group has not got to.
   */
  async pending(group: string, topic: string): Promise<number> {
    const [snapshot] = await this.groups([{ group, topics: [topic] }]);
    return (snapshot?.topics.get(topic) ?? []).reduce((sum, p) => sum + (p.logEnd - Math.max(p.logStart, p.committed ?? 0)), 0);
  }

  /**
   * Removes a consumer group once it has no members, waiting up to `timeoutMs` for its last
   * member to leave. True when it is gone (or never existed).
   */
  async deleteGroup(group: string, timeoutMs = 15_000): Promise<boolean> {
    const admin = await this.ready();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await admin.deleteGroups([group]);
        return true;
      } catch (err) {
        const types = groupErrorsOf(err).map((g) => g.error?.type);
        if (types.length > 0 && types.every((t) => t === "GROUP_ID_NOT_FOUND")) return true;
        if (Date.now() > deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  async close(): Promise<void> {
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
    this.connected = undefined;
  }
}

/** The per-group results of kafkajs' DeleteGroups error (its class is not an ESM export). */
const groupErrorsOf = (err: unknown): { error?: { type?: string } }[] =>
  typeof err === "object" && err !== null && Array.isArray((err as { groups?: unknown }).groups)
    ? (err as { groups: { error?: { type?: string } }[] }).groups
    : [];
