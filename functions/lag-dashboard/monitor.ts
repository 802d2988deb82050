/**
 * Samples every consumer's lag on a timer and keeps the last minutes of it:
 * per partition offsets, totals, consume rate, what KEDA would do, dead-letter
 * depth and the newest dead-letter reasons.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DeadLetterEntry, EntryKind } from "../../shared/catalog/dead-letter.ts";
import { DEAD_LETTER_OWNERS, DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopicOf } from "../../shared/catalog/names.ts";
import type { Logger } from "../../shared/logger.ts";
import type { ClusterReader, ClusterView } from "./cluster.ts";
import { parseScaledObject, partitionLag, scalingOf, type ScalerSpec, type ScalingView } from "./keda-model.ts";
import type { KafkaReader } from "../../shared/kafka.ts";

export interface PartitionView {
  topic: string;
  partition: number;
  committed: number | null;
  logEnd: number;
  lag: number;
}

export interface ConsumerView {
  service: string;
  group: string;
  running: boolean;
  members: number;
  state: string;
  totalLag: number;
  /** Events committed per second since the previous sample. */
  consumeRate: number;
  partitions: PartitionView[];
  keda: ScalingView & {
    minReplicaCount: number;
    maxReplicaCount: number;
    pollingInterval: number;
    cooldownPeriod: number;
    lagThreshold: Record<string, number>;
    activationLagThreshold: Record<string, number>;
    offsetResetPolicy: Record<string, string>;
  };
  deadLetters: {
    topic: string;
    /** Records the dead-letter topic holds (log-end minus log-start offsets). */
    depth: number;
    /** Records not yet acknowledged (`npm run dlq -- ack`, or `replay --all`). */
    pending: number;
    /** Records received since the dashboard started, per kind (the host's and those Dapr forwarded). */
    received: Partial<Record<EntryKind, number>>;
    newest: DeadLetterSummary[];
  };
  /**
   * With a control plane: the consumer as the cluster and KEDA report it; `compared` once the lag
   * has stood still long enough for KEDA's last poll to have seen it, and then any `mismatch`.
   */
  cluster?: ClusterView & { compared: boolean; mismatch: string | undefined };
}

export interface DeadLetterSummary {
  eventId: string | null;
  type: string | null;
  subject: string | null;
  kind: EntryKind;
  reason: string;
  attempts: number | null;
  /** When it was dead-lettered; for a record Dapr forwarded (no time in it), when the dashboard received it. */
  at: string;
}

/** A dead-letter topic: what it holds and what operators have not acknowledged yet (DEAD_LETTERS_ACKNOWLEDGED). */
export interface DeadLetterDepth {
  /** The service whose dead-letter topic it is. */
  service: string;
  topic: string;
  /** Records the topic holds (log-end minus log-start offsets). */
  retained: number;
  /** Records beyond the acknowledged offsets: what the alert counts. */
  depth: number;
}

export interface Snapshot {
  at: string;
  consumers: ConsumerView[];
  /** Every dead-letter topic (task-api's and lag-dashboard's too); empty when Kafka did not answer. */
  deadLetters: DeadLetterDepth[];
}

export interface Sample {
  at: number;
  lag: Record<string, number>;
  rate: Record<string, number>;
}

/** The ScaledObjects in `dir` (keda/): one per consumer. */
export const loadScalers = (dir: string): ScalerSpec[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".scaledobject.yaml"))
    .sort()
    .map((f) => parseScaledObject(readFileSync(join(dir, f), "utf8")));

/**
 * KEDA's figures come from its last poll, ours from this sample: they are compared only once the
 * lag has stood still for a polling interval and a sample, so a moving lag is not a mismatch.
 */
export const comparable = (view: ConsumerView, cluster: ClusterView, steadyForMs: number, sampleEveryMs: number): boolean =>
  steadyForMs >= view.keda.pollingInterval * 1000 + sampleEveryMs && cluster.keda.length > 0;

/** How KEDA's figures and the model's differ, trigger by trigger, once they are comparable. */
export const mismatchOf = (view: ConsumerView, cluster: ClusterView, steadyForMs: number, sampleEveryMs: number): string | undefined => {
  if (!comparable(view, cluster, steadyForMs, sampleEveryMs)) return undefined;
  const differences: string[] = [];
  view.keda.triggers.forEach((trigger, index) => {
    const keda = cluster.keda.find((k) => k.triggerIndex === index);
    if (!keda) return;
    if (keda.value !== trigger.metric) differences.push(`${trigger.topic}: KEDA's metric ${keda.value}, the model's ${trigger.metric}`);
    if (keda.active !== undefined && keda.active !== trigger.active) {
      differences.push(`${trigger.topic}: KEDA says ${keda.active ? "active" : "inactive"}, the model ${trigger.active ? "active" : "inactive"}`);
    }
  });
  return differences.length > 0 ? differences.join("; ") : undefined;
};

export class LagMonitor {
  private timer: NodeJS.Timeout | undefined;
  private previous = new Map<string, { at: number; committed: number }>();
  /** Per consumer: its total lag and since when it has had that value. */
  private readonly steady = new Map<string, { lag: number; since: number }>();
  private readonly newest = new Map<string, DeadLetterSummary[]>();
  private readonly received = new Map<string, Partial<Record<EntryKind, number>>>();
  /** Keys of the records received, so a redelivered record counts once (the newest 10 000). */
  private readonly seen = new Set<string>();
  readonly history: Sample[] = [];
  latest: Snapshot | undefined;

  /**
   * `scalers` come from files (keda/), or, with a `cluster`, from the API server on every sample;
   * the cluster also gives each consumer KEDA's own figures.
   */
  constructor(
    private readonly reader: KafkaReader,
    public scalers: ScalerSpec[],
    private readonly log: Logger,
    private readonly options = { everyMs: 2_000, keepMs: 10 * 60_000, newestPerConsumer: 10 },
    private readonly cluster?: ClusterReader,
  ) {}

  /** A dead-letter topic record arrived (through the dashboard's raw subscription): either shape. */
  recordDeadLetter(service: string, key: string, entry: DeadLetterEntry): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.seen.size > 10_000) this.seen.delete(this.seen.values().next().value!);
    const counts = this.received.get(service) ?? {};
    counts[entry.kind] = (counts[entry.kind] ?? 0) + 1;
    this.received.set(service, counts);
    const list = this.newest.get(service) ?? [];
    list.unshift({
      eventId: entry.eventId,
      type: entry.type,
      subject: entry.subject,
      kind: entry.kind,
      reason: entry.reason,
      attempts: entry.attempts,
      at: entry.deadLetteredAt ?? new Date().toISOString(),
    });
    this.newest.set(service, list.slice(0, this.options.newestPerConsumer));
  }

  start(): void {
    const tick = async () => {
      await this.sample().catch((err: unknown) => this.log.warn({ err }, "lag sample failed"));
      this.timer = setTimeout(tick, this.options.everyMs);
    };
    void tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  async sample(): Promise<Snapshot> {
    const now = Date.now();
    const clusterViews = this.cluster ? await this.cluster.read() : undefined;
    if (this.cluster) this.scalers = await this.cluster.scalers();
    const groups = this.scalers.map((s) => ({
      service: s.target,
      group: s.triggers[0]?.consumerGroup ?? s.target,
      topics: [...new Set(s.triggers.map((t) => t.topic))],
    }));
    const [snapshots, acknowledged] = await Promise.all([
      this.reader.groups(groups.map(({ group, topics }) => ({ group, topics }))),
      this.reader
        .groups([{ group: DEAD_LETTERS_ACKNOWLEDGED, topics: DEAD_LETTER_OWNERS.map(deadLetterTopicOf) }])
        .then(([snapshot]) => snapshot)
        .catch(() => undefined),
    ]);
    const deadLetters: DeadLetterDepth[] = acknowledged
      ? DEAD_LETTER_OWNERS.map((service) => {
          const topic = deadLetterTopicOf(service);
          const partitions = acknowledged.topics.get(topic) ?? [];
          return {
            service,
            topic,
            retained: partitions.reduce((sum, p) => sum + (p.logEnd - p.logStart), 0),
            depth: partitions.reduce((sum, p) => sum + (p.logEnd - Math.max(p.logStart, p.committed ?? 0)), 0),
          };
        })
      : [];
    const consumers = this.scalers.map((scaler, i): ConsumerView => {
      const { service, group } = groups[i]!;
      const snap = snapshots[i]!;
      const partitions: PartitionView[] = [];
      for (const [topic, offsets] of snap.topics) {
        const trigger = scaler.triggers.find((t) => t.topic === topic) ?? scaler.triggers[0]!;
        for (const p of offsets) {
          partitions.push({ topic, partition: p.partition, committed: p.committed ?? null, logEnd: p.logEnd, lag: partitionLag(p, trigger) });
        }
      }
      const committedSum = partitions.reduce((sum, p) => sum + (p.committed ?? 0), 0);
      const before = this.previous.get(service);
      const consumeRate = before && now > before.at ? Math.max(0, ((committedSum - before.committed) * 1000) / (now - before.at)) : 0;
      this.previous.set(service, { at: now, committed: committedSum });
      const dlt = deadLetterTopicOf(service);
      const byTrigger = <T>(pick: (t: ScalerSpec["triggers"][number]) => T) => Object.fromEntries(scaler.triggers.map((t) => [t.topic, pick(t)]));
      const view: ConsumerView = {
        service,
        group,
        running: snap.members > 0,
        members: snap.members,
        state: snap.state,
        totalLag: partitions.reduce((sum, p) => sum + p.lag, 0),
        consumeRate,
        partitions,
        keda: {
          ...scalingOf(scaler, snap.topics),
          minReplicaCount: scaler.minReplicaCount,
          maxReplicaCount: scaler.maxReplicaCount,
          pollingInterval: scaler.pollingInterval,
          cooldownPeriod: scaler.cooldownPeriod,
          lagThreshold: byTrigger((t) => t.lagThreshold),
          activationLagThreshold: byTrigger((t) => t.activationLagThreshold),
          offsetResetPolicy: byTrigger((t) => t.offsetResetPolicy),
        },
        deadLetters: {
          topic: dlt,
          depth: deadLetters.find((d) => d.topic === dlt)?.retained ?? 0,
          pending: deadLetters.find((d) => d.topic === dlt)?.depth ?? 0,
          received: this.received.get(service) ?? {},
          newest: this.newest.get(service) ?? [],
        },
      };
      const clusterView = clusterViews?.get(scaler.name);
      if (!clusterView) return view;
      const steady = this.steady.get(service);
      const since = steady && steady.lag === view.totalLag ? steady.since : now;
      this.steady.set(service, { lag: view.totalLag, since });
      const steadyFor = now - since;
      return {
        ...view,
        cluster: {
          ...clusterView,
          compared: comparable(view, clusterView, steadyFor, this.options.everyMs),
          mismatch: mismatchOf(view, clusterView, steadyFor, this.options.everyMs),
        },
      };
    });
    this.latest = { at: new Date(now).toISOString(), consumers, deadLetters };
    this.history.push({
      at: now,
      lag: Object.fromEntries(consumers.map((c) => [c.service, c.totalLag])),
      rate: Object.fromEntries(consumers.map((c) => [c.service, c.consumeRate])),
    });
    while (this.history.length > 0 && this.history[0]!.at < now - this.options.keepMs) this.history.shift();
    return this.latest;
  }
}
