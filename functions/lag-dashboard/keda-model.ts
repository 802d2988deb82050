/**
 * What KEDA's Kafka scaler would do, computed from a consumer's ScaledObject
 * (keda/<service>.scaledobject.yaml) and live offsets, with the scaler's rules:
 *
 * - per partition lag = log-end offset − committed offset; a partition without
 *   a committed offset counts as what it retains (log-end − log-start offset)
 *   under `offsetResetPolicy: earliest`, and as 1 under `latest` (0 with
 *   `scaleToZeroOnInvalidOffset`);
 * - the trigger's metric is the topic's total lag, capped at
 *   partitions × lagThreshold unless `allowIdleConsumers` (so replicas never
 *   exceed partitions); the cap applies when the integer quotient
 *   lag / lagThreshold exceeds the partition count (KEDA 2.21 computes in
 *   int64, so 605 of lag over 6 partitions at 100 stays 605);
 * - a trigger is active when its lag exceeds `activationLagThreshold`;
 * - the HPA wants ceil(metric / lagThreshold) replicas per trigger and takes
 *   the largest; the result is clamped to [minReplicaCount (at least 1 when
 *   active), maxReplicaCount]; with no active trigger and minReplicaCount 0,
 *   it is 0.
 */
import { parse } from "yaml";
import { z } from "zod";

const Bool = z
  .union([z.boolean(), z.enum(["true", "false"])])
  .transform((v) => v === true || v === "true")
  .optional();
const Count = z.coerce.number().int().min(0);

const KafkaTrigger = z.object({
  type: z.literal("kafka"),
  metadata: z.object({
    consumerGroup: z.string().min(1),
    topic: z.string().min(1),
    lagThreshold: Count.default(10),
    activationLagThreshold: Count.default(0),
    offsetResetPolicy: z.enum(["earliest", "latest"]).default("latest"),
    allowIdleConsumers: Bool,
    scaleToZeroOnInvalidOffset: Bool,
  }),
});

const ScaledObjectDoc = z.object({
  kind: z.literal("ScaledObject"),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    scaleTargetRef: z.object({ name: z.string() }),
    minReplicaCount: Count.default(0),
    maxReplicaCount: Count.default(100),
    pollingInterval: Count.default(30),
    cooldownPeriod: Count.default(300),
    triggers: z.array(z.looseObject({ type: z.string() })).min(1),
  }),
});

export interface KafkaTriggerSpec {
  consumerGroup: string;
  topic: string;
  lagThreshold: number;
  activationLagThreshold: number;
  offsetResetPolicy: "earliest" | "latest";
  allowIdleConsumers: boolean;
  scaleToZeroOnInvalidOffset: boolean;
}

export interface ScalerSpec {
  name: string;
  target: string;
  minReplicaCount: number;
  maxReplicaCount: number;
  pollingInterval: number;
  cooldownPeriod: number;
  triggers: KafkaTriggerSpec[];
}

/** Reads a ScaledObject manifest; triggers other than kafka are ignored. */
export const parseScaledObject = (text: string): ScalerSpec => scalerOf(parse(text));

/** Reads a ScaledObject as the API server returns it (or as parsed from YAML). */
export const scalerOf = (object: unknown): ScalerSpec => {
  const doc = ScaledObjectDoc.parse(object);
  const triggers = doc.spec.triggers
    .filter((t) => t.type === "kafka")
    .map((t) => KafkaTrigger.parse(t).metadata)
    .map((m) => ({
      ...m,
      allowIdleConsumers: m.allowIdleConsumers ?? false,
      scaleToZeroOnInvalidOffset: m.scaleToZeroOnInvalidOffset ?? false,
    }));
  return {
    name: doc.metadata.name,
    target: doc.spec.scaleTargetRef.name,
    minReplicaCount: doc.spec.minReplicaCount,
    maxReplicaCount: doc.spec.maxReplicaCount,
    pollingInterval: doc.spec.pollingInterval,
    cooldownPeriod: doc.spec.cooldownPeriod,
    triggers,
  };
};

/** One partition as read from Kafka: committed is undefined when the group never committed there. */
export interface PartitionOffsets {
  partition: number;
  committed: number | undefined;
  logEnd: number;
  /** The oldest offset still retained (0 until retention deletes records). */
  logStart?: number;
}

export interface TriggerView {
  topic: string;
  /** Lag as KEDA counts it, before the cap. */
  lag: number;
  /** The metric KEDA reports (capped unless allowIdleConsumers). */
  metric: number;
  active: boolean;
  wantedReplicas: number;
}

export interface ScalingView {
  triggers: TriggerView[];
  active: boolean;
  replicas: number;
  atZero: boolean;
}

export const partitionLag = (p: PartitionOffsets, trigger: KafkaTriggerSpec): number => {
  if (p.committed === undefined) {
    if (trigger.offsetResetPolicy === "earliest") return Math.max(0, p.logEnd - (p.logStart ?? 0));
    return trigger.scaleToZeroOnInvalidOffset ? 0 : 1;
  }
  return Math.max(0, p.logEnd - p.committed);
};

export const scalingOf = (spec: ScalerSpec, offsetsByTopic: ReadonlyMap<string, PartitionOffsets[]>): ScalingView => {
  const triggers = spec.triggers.map((trigger): TriggerView => {
    const partitions = offsetsByTopic.get(trigger.topic) ?? [];
    const lag = partitions.reduce((sum, p) => sum + partitionLag(p, trigger), 0);
    const threshold = Math.max(1, trigger.lagThreshold);
    const metric = !trigger.allowIdleConsumers && Math.floor(lag / threshold) > partitions.length ? partitions.length * threshold : lag;
    return {
      topic: trigger.topic,
      lag,
      metric,
      active: lag > trigger.activationLagThreshold,
      wantedReplicas: Math.ceil(metric / threshold),
    };
  });
  const active = triggers.some((t) => t.active);
  const wanted = Math.max(0, ...triggers.map((t) => t.wantedReplicas));
  const replicas = active || spec.minReplicaCount > 0 ? Math.min(spec.maxReplicaCount, Math.max(spec.minReplicaCount, active ? 1 : 0, wanted)) : 0;
  return { triggers, active, replicas, atZero: replicas === 0 };
};
