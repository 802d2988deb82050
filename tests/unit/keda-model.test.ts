import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScaledObject, scalingOf, type PartitionOffsets, type ScalerSpec } from "../../functions/lag-dashboard/keda-model.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

const spec = (trigger: Partial<ScalerSpec["triggers"][number]> = {}, over: Partial<ScalerSpec> = {}): ScalerSpec => ({
  name: "c",
  target: "c",
  minReplicaCount: 0,
  maxReplicaCount: 6,
  pollingInterval: 30,
  cooldownPeriod: 300,
  triggers: [
    {
      consumerGroup: "c",
      topic: "t",
      lagThreshold: 10,
      activationLagThreshold: 0,
      offsetResetPolicy: "earliest",
      allowIdleConsumers: false,
      scaleToZeroOnInvalidOffset: false,
      ...trigger,
    },
  ],
  ...over,
});
const parts = (...p: [number | undefined, number][]): Map<string, PartitionOffsets[]> =>
  new Map([["t", p.map(([committed, logEnd], partition) => ({ partition, committed, logEnd }))]]);

describe("KEDA's Kafka scaler, as the dashboard computes it", () => {
  it("is at zero with no lag, and wakes on any lag above the activation threshold", () => {
    expect(scalingOf(spec(), parts([5, 5], [7, 7]))).toMatchObject({ active: false, replicas: 0, atZero: true });
    expect(scalingOf(spec(), parts([5, 6], [7, 7]))).toMatchObject({ active: true, replicas: 1 });
    expect(scalingOf(spec({ activationLagThreshold: 5 }), parts([5, 9], [7, 7]))).toMatchObject({ active: false, replicas: 0 });
  });

  it("wants ceil(lag / lagThreshold) replicas, capped at the partition count and at maxReplicaCount", () => {
    expect(scalingOf(spec(), parts([0, 25], [0, 0], [0, 0])).replicas).toBe(3);
    expect(scalingOf(spec(), parts([0, 500], [0, 500])).replicas).toBe(2); // two partitions
    expect(scalingOf(spec({ allowIdleConsumers: true }), parts([0, 500], [0, 500])).replicas).toBe(6); // maxReplicaCount
  });

  it("caps the metric only when the integer quotient lag / lagThreshold exceeds the partitions, as KEDA's int64 arithmetic does", () => {
    const six = parts([0, 101], [0, 100], [0, 100], [0, 100], [0, 100], [0, 104]);
    expect(scalingOf(spec({ lagThreshold: 100 }), six).triggers[0]!.metric).toBe(605); // 605 / 100 = 6, not above 6
    expect(scalingOf(spec({ lagThreshold: 100 }), parts([0, 701], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0])).triggers[0]!.metric).toBe(600);
  });

  it("counts a partition without a committed offset as what it retains (earliest) or as 1 (latest)", () => {
    expect(scalingOf(spec(), parts([undefined, 40])).triggers[0]!.lag).toBe(40);
    expect(scalingOf(spec(), new Map([["t", [{ partition: 0, committed: undefined, logEnd: 40, logStart: 15 }]]])).triggers[0]!.lag).toBe(25);
    expect(scalingOf(spec({ offsetResetPolicy: "latest" }), parts([undefined, 40], [undefined, 0])).triggers[0]!.lag).toBe(2);
    expect(scalingOf(spec({ offsetResetPolicy: "latest", scaleToZeroOnInvalidOffset: true }), parts([undefined, 40])).triggers[0]!.lag).toBe(0);
  });

  it("reads the project's ScaledObjects", () => {
    const notification = parseScaledObject(readFileSync(join(repoRoot, "keda/notification-service.scaledobject.yaml"), "utf8"));
    expect(notification).toMatchObject({ target: "notification-service", minReplicaCount: 0 });
    expect(notification.triggers[0]).toMatchObject({ consumerGroup: "notification-service", topic: "reminders", offsetResetPolicy: "earliest" });
  });
});
