/**
 * The metric names each exporter serves, read from the real code where it is ours: the function
 * host's registry (every function's /metrics), what task-api's main.ts adds to it, lag-dashboard's
 * gauges; Strimzi's kafka-exporter from its list (monitoring.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { lagDashboard } from "../../../functions/lag-dashboard/app.ts";
import { LagMonitor } from "../../../functions/lag-dashboard/monitor.ts";
import { Service } from "../../../shared/catalog/names.ts";
import { HostMetrics } from "../../../shared/host/metrics.ts";
import { KafkaReader, plainKafkaAccess } from "../../../shared/kafka.ts";
import { createLogger } from "../../../shared/logger.ts";
import { repoRoot } from "../../stack/paths.ts";
import { KAFKA_EXPORTER_METRICS, type Exporter } from "./monitoring.ts";

/** A registry's metric names as Prometheus exposes them (a histogram as its _bucket, _sum and _count). */
const namesOf = async (registry: Registry): Promise<Set<string>> =>
  new Set(
    (await registry.getMetricsAsJSON()).flatMap((m) =>
      String(m.type) === "histogram" ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name],
    ),
  );

/** The metrics task-api's main.ts registers on its host (metrics.counter / metrics.gauge). */
const taskApiMetrics = (): Set<string> => {
  const main = readFileSync(join(repoRoot, "functions", Service.TaskApi, "main.ts"), "utf8");
  return new Set([...main.matchAll(/metrics\.(?:counter|gauge)\(\s*"([a-z_]+)"/g)].map((m) => m[1]!));
};

/** lag-dashboard's gauges, from its real definition (nothing connects: the monitor is never started). */
const lagDashboardMetrics = async (): Promise<Set<string>> => {
  const registry = new Registry();
  const reader = new KafkaReader(plainKafkaAccess("127.0.0.1:9"), Service.LagDashboard);
  lagDashboard.build({ monitor: new LagMonitor(reader, [], createLogger(Service.LagDashboard, "silent")), registry });
  return namesOf(registry);
};

export const exportedMetrics = async (): Promise<Record<Exporter, ReadonlySet<string>>> => ({
  "function /metrics": await namesOf(new HostMetrics("any").registry),
  "task-api /metrics": taskApiMetrics(),
  "lag-dashboard /metrics": await lagDashboardMetrics(),
  "Strimzi kafka-exporter": KAFKA_EXPORTER_METRICS,
  // No panel reads daprd's metrics yet; it is scraped for people's own queries.
  daprd: new Set<string>(),
});
