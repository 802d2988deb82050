/**
 * Offsets from Kafka through an admin client that only reads: log-end offsets
 * per partition, committed offsets per consumer group, and group members.
 * It never produces or consumes records.
 */
import { Kafka, logLevel, type Admin } from "kafkajs";
import type { KafkaAccess } from "./kafka-access.ts";
import type { PartitionOffsets } from "./keda-model.ts";

export interface GroupSnapshot {
  group: string;
  /** Consumers currently in the group (0 = nothing running). */
  members: number;
  state: string;
  topics: Map<string, PartitionOffsets[]>;
}

export class OffsetReader {
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;

  /** `access`: the brokers, and TLS and SASL as the cluster asks (kafka-access.ts). */
  constructor(access: KafkaAccess) {
    this.admin = new Kafka({
      clientId: "lag-dashboard",
      brokers: access.brokers,
      ssl: access.ssl,
      ...(access.sasl ? { sasl: access.sasl } : {}),
      logLevel: logLevel.NOTHING,
      retry: { retries: 1 },
      connectionTimeout: 3_000,
    }).admin();
  }

  private async ready(): Promise<Admin> {
    this.connected ??= this.admin.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    await this.connected;
    return this.admin;
  }

  /** Log-end offset per partition of each topic. */
  async logEnds(topics: string[]): Promise<Map<string, Map<number, number>>> {
    const bounds = await this.bounds(topics);
    return new Map([...bounds].map(([topic, partitions]) => [topic, new Map([...partitions].map(([p, b]) => [p, b.end]))]));
  }

  /** Log-start (oldest retained) and log-end offsets per partition of each topic. */
  private async bounds(topics: string[]): Promise<Map<string, Map<number, { start: number; end: number }>>> {
    const admin = await this.ready();
    const result = new Map<string, Map<number, { start: number; end: number }>>();
    await Promise.all(
      topics.map(async (topic) => {
        const offsets = await admin.fetchTopicOffsets(topic);
        result.set(topic, new Map(offsets.map((o) => [o.partition, { start: Number(o.low), end: Number(o.high) }])));
      }),
    );
    return result;
  }

  /** Committed offsets and membership of each group, for the given topics. */
  async groups(groups: { group: string; topics: string[] }[]): Promise<GroupSnapshot[]> {
    const admin = await this.ready();
    const allTopics = [...new Set(groups.flatMap((g) => g.topics))];
    const [ends, described] = await Promise.all([
      this.bounds(allTopics),
      admin.describeGroups(groups.map((g) => g.group)),
    ]);
    return Promise.all(
      groups.map(async ({ group, topics }) => {
        const committed = await admin.fetchOffsets({ groupId: group, topics });
        const byTopic = new Map<string, PartitionOffsets[]>();
        for (const topic of topics) {
          const bounds = ends.get(topic) ?? new Map<number, { start: number; end: number }>();
          const commits = new Map(
            (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
          );
          byTopic.set(
            topic,
            [...bounds.entries()]
              .sort(([a], [b]) => a - b)
              .map(([partition, { start, end }]) => {
                const c = commits.get(partition);
                return { partition, logEnd: end, logStart: start, committed: c === undefined || c < 0 ? undefined : c };
              }),
          );
        }
        const info = described.groups.find((g) => g.groupId === group);
        return { group, members: info?.members.length ?? 0, state: info?.state ?? "Unknown", topics: byTopic };
      }),
    );
  }

  async close(): Promise<void> {
    if (this.connected) await this.admin.disconnect();
  }
}
