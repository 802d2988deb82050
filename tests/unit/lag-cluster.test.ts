import { describe, expect, it } from "vitest";
import { parseKedaMetrics, type ClusterView } from "../../functions/lag-dashboard/cluster.ts";
import { comparable, mismatchOf, type ConsumerView } from "../../functions/lag-dashboard/monitor.ts";

/** Lines as KEDA 2.21's operator serves them on its metrics endpoint. */
const EXPOSITION = [
  "# HELP keda_scaler_metrics_value The current value for each scaler's metric that would be used by the HPA in computing the target average.",
  "# TYPE keda_scaler_metrics_value gauge",
  'keda_scaler_metrics_value{metric="s0-kafka-reminders",namespace="taskapp",scaledObject="notification-service",scaler="kafkaScaler",triggerIndex="0",type="scaledobject"} 12',
  'keda_scaler_metrics_value{metric="s1-kafka-reminders",namespace="taskapp",scaledObject="audit-service",scaler="kafkaScaler",triggerIndex="1",type="scaledobject"} 7',
  'keda_scaler_metrics_value{metric="s0-kafka-task-events",namespace="taskapp",scaledObject="audit-service",scaler="kafkaScaler",triggerIndex="0",type="scaledobject"} 3',
  'keda_scaler_active{metric="s0-kafka-reminders",namespace="taskapp",scaledObject="notification-service",scaler="kafkaScaler",triggerIndex="0",type="scaledobject"} 1',
  'keda_scaler_metrics_value{metric="s0-kafka-x",namespace="other",scaledObject="notification-service",scaler="kafkaScaler",triggerIndex="0",type="scaledobject"} 99',
].join("\n");

const view = (metric: number, active: boolean, pollingInterval = 1): ConsumerView =>
  ({ keda: { pollingInterval, triggers: [{ topic: "reminders", lag: metric, metric, active, wantedReplicas: 1 }] } }) as unknown as ConsumerView;
const cluster = (value: number, active: boolean): ClusterView => ({
  conditions: [],
  deployment: undefined,
  hpa: undefined,
  keda: [{ triggerIndex: 0, metric: "s0-kafka-reminders", value, active }],
});

describe("KEDA's figures on the dashboard", () => {
  it("reads keda_scaler_metrics_value and keda_scaler_active per ScaledObject and trigger, in its namespace only", () => {
    const figures = parseKedaMetrics(EXPOSITION, "taskapp");
    expect(figures.get("notification-service")).toEqual([{ triggerIndex: 0, metric: "s0-kafka-reminders", value: 12, active: true }]);
    expect(figures.get("audit-service")?.map((f) => [f.triggerIndex, f.value])).toEqual([
      [0, 3],
      [1, 7],
    ]);
  });

  it("flags a disagreement only once the lag has stood still for a polling interval and a sample", () => {
    expect(mismatchOf(view(12, true), cluster(10, true), 5_000, 2_000)).toBe("reminders: KEDA's metric 10, the model's 12");
    expect(mismatchOf(view(12, true), cluster(10, true), 2_500, 2_000)).toBeUndefined();
    expect(comparable(view(12, true), cluster(10, true), 2_500, 2_000)).toBe(false);
    expect(comparable(view(12, true), cluster(10, true), 3_000, 2_000)).toBe(true);
    expect(mismatchOf(view(12, true), cluster(12, true), 5_000, 2_000)).toBeUndefined();
    expect(mismatchOf(view(0, false), cluster(0, true), 5_000, 2_000)).toBe("reminders: KEDA says active, the model inactive");
  });
});
