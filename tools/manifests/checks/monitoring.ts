/**
 * Where each metric of the Grafana dashboard comes from, in a rendered overlay: which exporter
 * serves it and whether that exporter runs there and is scraped (the plain scrape config, and the
 * Prometheus Operator's PodMonitors when that component is in). Every panel needs a source.
 */
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { Service } from "../../../shared/catalog/names.ts";
import { list, type ConfigMap, type Deployment, type Kafka, type Monitor, type Rendered } from "./model.ts";
import type { K8sObject } from "../render.ts";

export type Exporter = "function /metrics" | "task-api /metrics" | "lag-dashboard /metrics" | "Strimzi kafka-exporter" | "daprd";
export const EXPORTERS: readonly Exporter[] = ["function /metrics", "task-api /metrics", "lag-dashboard /metrics", "Strimzi kafka-exporter", "daprd"];

/**
 * What Strimzi's Kafka Exporter serves (it runs danielqsj/kafka_exporter): the metric names its
 * collector registers (kafka_exporter.go, BuildFQName("kafka", …) of each descriptor).
 */
export const KAFKA_EXPORTER_METRICS: ReadonlySet<string> = new Set([
  "kafka_brokers",
  "kafka_broker_info",
  "kafka_topic_partitions",
  "kafka_topic_partition_current_offset",
  "kafka_topic_partition_oldest_offset",
  "kafka_topic_partition_leader",
  "kafka_topic_partition_replicas",
  "kafka_topic_partition_in_sync_replica",
  "kafka_topic_partition_leader_is_preferred",
  "kafka_topic_partition_under_replicated_partition",
  "kafka_consumergroup_current_offset",
  "kafka_consumergroup_current_offset_sum",
  "kafka_consumergroup_lag",
  "kafka_consumergroup_lag_sum",
  "kafka_consumergroup_members",
]);

/** The scrape jobs of deploy/monitoring/prometheus-scrape.yaml and the container port each keeps. */
export const SCRAPE_JOBS: Readonly<Record<Exporter, { job: string; port: string }>> = {
  "function /metrics": { job: "taskapp-functions", port: "app" },
  "task-api /metrics": { job: "taskapp-functions", port: "app" },
  "lag-dashboard /metrics": { job: "taskapp-functions", port: "app" },
  "Strimzi kafka-exporter": { job: "taskapp-kafka-exporter", port: "tcp-prometheus" },
  daprd: { job: "taskapp-daprd", port: "dapr-metrics" },
};

export const SCRAPE_CONFIGMAP = "taskapp-prometheus-scrape";
export const RULES_CONFIGMAP = "taskapp-prometheus-rules";

interface RuleGroup {
  name?: string;
  rules?: { alert?: string; record?: string; expr?: string; for?: string; labels?: unknown; annotations?: unknown }[];
}

const METRIC = /\b(taskapp|kafka|dapr|nodejs|process)_[a-z0-9_]+/g;

/**
 * The alerting rules: the ConfigMap's file for a plain Prometheus; with the Prometheus Operator, a
 * PrometheusRule with the same groups; every metric a rule reads exported by something that runs
 * and is scraped here (a rule on a metric nothing serves never fires).
 */
export const ruleProblems = (r: Rendered, exported: Readonly<Record<Exporter, ReadonlySet<string>>>, running: ReadonlySet<Exporter>): string[] => {
  const problems: string[] = [];
  const text = r.named(r.core<ConfigMap>("ConfigMap"), RULES_CONFIGMAP)?.data?.["prometheus-rules.yaml"];
  if (!text) return [`ConfigMap/${RULES_CONFIGMAP}: no prometheus-rules.yaml`];
  const groups = (parse(text) as { groups?: RuleGroup[] }).groups ?? [];
  if (groups.length === 0) problems.push(`ConfigMap/${RULES_CONFIGMAP}: no rule groups`);
  for (const group of groups) {
    for (const rule of group.rules ?? []) {
      const name = rule.alert ?? rule.record ?? "(unnamed)";
      for (const metric of new Set(rule.expr?.match(METRIC) ?? [])) {
        const exporters = EXPORTERS.filter((e) => exported[e].has(metric));
        if (!exporters.some((e) => running.has(e))) {
          problems.push(
            `${RULES_CONFIGMAP}: rule ${name} reads ${metric}, which ${exporters.length === 0 ? "no exporter serves" : `only ${list(exporters)} serve${exporters.length === 1 ? "s" : ""}, not run or not scraped here`}`,
          );
        }
      }
    }
  }
  for (const rule of r.of<K8sObject & { spec?: { groups?: RuleGroup[] } }>("PrometheusRule", "monitoring.coreos.com")) {
    if (!isDeepStrictEqual(rule.spec?.groups ?? [], groups)) {
      problems.push(`PrometheusRule/${rule.metadata.name}: its groups differ from deploy/monitoring/prometheus-rules.yaml (ConfigMap ${RULES_CONFIGMAP})`);
    }
  }
  return problems;
};

interface Panel {
  title: string;
  targets?: { expr?: string }[];
}

/** Each panel's title and the metric names its queries read. */
export const panelMetrics = (dashboard: { panels: Panel[] }): { panel: string; metrics: string[] }[] =>
  dashboard.panels.map((p) => ({
    panel: p.title,
    metrics: [...new Set((p.targets ?? []).flatMap((t) => (t.expr ?? "").match(/\b(taskapp|kafka|dapr|nodejs|process)_[a-z0-9_]+/g) ?? []))],
  }));

interface ScrapeJob {
  job_name?: string;
  relabel_configs?: { source_labels?: string[]; regex?: string; action?: string }[];
}

/** The container port name a job keeps (its relabel rule on the pod's container port name). */
const keptPort = (job: ScrapeJob): string | undefined =>
  job.relabel_configs?.find((rc) => rc.action === "keep" && rc.source_labels?.includes("__meta_kubernetes_pod_container_port_name"))?.regex;

/** The exporters that run and are scraped in this overlay. */
export const runningExporters = (r: Rendered): { running: Set<Exporter>; problems: string[] } => {
  const problems: string[] = [];
  const deployments = r.of<Deployment>("Deployment", "apps");
  const scrape = r.named(r.core<ConfigMap>("ConfigMap"), SCRAPE_CONFIGMAP);
  const text = scrape?.data?.["prometheus-scrape.yaml"];
  if (!text) problems.push(`ConfigMap/${SCRAPE_CONFIGMAP}: no prometheus-scrape.yaml`);
  const jobs = (text ? (parse(text) as { scrape_configs?: ScrapeJob[] }) : {}).scrape_configs ?? [];
  const scraped = (exporter: Exporter): boolean => {
    const { job, port } = SCRAPE_JOBS[exporter];
    return jobs.some((j) => j.job_name === job && keptPort(j) === port);
  };
  const monitors = [...r.of<Monitor>("PodMonitor", "monitoring.coreos.com"), ...r.of<Monitor>("ServiceMonitor", "monitoring.coreos.com")];
  const monitored = (exporter: Exporter): boolean =>
    monitors.some((m) => [...(m.spec?.podMetricsEndpoints ?? []), ...(m.spec?.endpoints ?? [])].some((e) => e.port === SCRAPE_JOBS[exporter].port));

  const running = new Set<Exporter>();
  const has = (name: string) => deployments.some((d) => d.metadata.name === name);
  const present: Record<Exporter, boolean> = {
    "function /metrics": [Service.RecurringTaskService, Service.NotificationService, Service.AuditService, Service.TaskApi].some(has),
    "task-api /metrics": has(Service.TaskApi),
    "lag-dashboard /metrics": has(Service.LagDashboard),
    "Strimzi kafka-exporter": r.of<Kafka>("Kafka", "kafka.strimzi.io").some((k) => k.spec?.kafkaExporter !== undefined),
    // Every function's sidecar serves its metrics (the checks keep dapr.io/enable-metrics on).
    daprd: deployments.some((d) => d.spec?.template?.metadata?.annotations?.["dapr.io/enabled"] === "true"),
  };
  for (const exporter of EXPORTERS) {
    if (!present[exporter]) continue;
    if (!scraped(exporter)) {
      problems.push(`${SCRAPE_CONFIGMAP}: no scrape job ${SCRAPE_JOBS[exporter].job} keeping port ${SCRAPE_JOBS[exporter].port} (${exporter})`);
      continue;
    }
    if (monitors.length > 0 && !monitored(exporter))
      problems.push(`Prometheus Operator: no PodMonitor or ServiceMonitor endpoint on port ${SCRAPE_JOBS[exporter].port} (${exporter})`);
    running.add(exporter);
  }
  for (const m of monitors) {
    if (!m.spec?.selector?.matchLabels && !m.spec?.selector?.matchExpressions) problems.push(`${m.kind}/${m.metadata.name}: selects every pod`);
  }
  return { running, problems };
};

export interface MetricSource {
  panel: string;
  metric: string;
  /** Every exporter that serves the metric. */
  exporters: Exporter[];
  /** Those that run and are scraped in the overlay. */
  sources: Exporter[];
}

/**
 * For each panel metric, its exporters and which of them are sources in the overlay. `exported`
 * says which metric names each exporter serves (the test reads them from the real registries).
 */
export const panelSources = (
  dashboard: { panels: Panel[] },
  exported: Readonly<Record<Exporter, ReadonlySet<string>>>,
  running: ReadonlySet<Exporter>,
): MetricSource[] =>
  panelMetrics(dashboard).flatMap(({ panel, metrics }) =>
    metrics.map((metric) => {
      const exporters = EXPORTERS.filter((e) => exported[e].has(metric));
      return { panel, metric, exporters, sources: exporters.filter((e) => running.has(e)) };
    }),
  );

export const panelSourceProblems = (sources: readonly MetricSource[], overlay: string): string[] =>
  sources
    .filter((s) => s.sources.length === 0)
    .map(
      (s) =>
        `${overlay}: panel "${s.panel}" reads ${s.metric}, which ${s.exporters.length === 0 ? "no exporter serves" : `only ${list(s.exporters)} serve${s.exporters.length === 1 ? "s" : ""}, not run or not scraped here`}`,
    );

/**
 * The panel → metric → exporter table (docs/operations.md holds it, the manifests test prints it):
 * per overlay, the exporters that are a source of the metric there.
 */
export const panelTable = (byOverlay: Readonly<Record<string, readonly MetricSource[]>>): string => {
  const overlays = Object.keys(byOverlay);
  const [first = []] = Object.values(byOverlay);
  const cell = (items: readonly string[]) => (items.length === 0 ? "—" : items.join(", "));
  return [
    `| panel | metric | exported by | ${overlays.map((o) => `source in ${o}`).join(" | ")} |`,
    `| --- | --- | --- | ${overlays.map(() => "---").join(" | ")} |`,
    ...first.map(
      (row, i) => `| ${row.panel} | \`${row.metric}\` | ${cell(row.exporters)} | ${overlays.map((o) => cell(byOverlay[o]?.[i]?.sources ?? [])).join(" | ")} |`,
    ),
  ].join("\n");
};
