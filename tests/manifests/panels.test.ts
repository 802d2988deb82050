import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { GRAFANA_DASHBOARD, loadCheckContext, metricSources, type CheckContext } from "../../tools/manifests/checks.ts";
import { panelMetrics, panelTable, type MetricSource } from "../../tools/manifests/checks/monitoring.ts";
import { renderTarget, TARGETS } from "../../tools/manifests/validate.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

let context: CheckContext;
const sources: Record<string, MetricSource[]> = {};

beforeAll(async () => {
  context = await loadCheckContext();
  for (const overlay of ["minikube", "cloud"] as const) sources[overlay] = metricSources(await renderTarget(TARGETS[overlay]), context);
}, 600_000);

describe(`every panel of ${GRAFANA_DASHBOARD} has a source in both overlays`, () => {
  it("lists each panel's metrics and where each is exported (printed; the same table is in docs/operations.md)", () => {
    const table = panelTable(sources);
    process.stdout.write(`\n${table}\n\n`);
    expect(panelMetrics(context.dashboard).every((p) => p.metrics.length > 0)).toBe(true);
    expect(sources["minikube"]!.length).toBeGreaterThanOrEqual(panelMetrics(context.dashboard).length);
    expect(readFileSync(join(repoRoot, "docs/operations.md"), "utf8")).toContain(table);
  });

  it.each(["minikube", "cloud"])("%s: every metric of every panel is exported by something that runs there and is scraped", (overlay) => {
    const missing = sources[overlay]!.filter((s) => s.sources.length === 0).map((s) => `${s.panel}: ${s.metric} (${s.exporters.join(", ") || "no exporter"})`);
    expect(missing).toEqual([]);
  });

  it("the lag panel has two sources in Minikube (the dashboard and Strimzi's exporter) and deduplicates them", () => {
    const lag = sources["minikube"]!.find((s) => s.metric === "kafka_consumergroup_lag");
    expect(lag?.sources).toEqual(["lag-dashboard /metrics", "Strimzi kafka-exporter"]);
    const panel = context.dashboard.panels.find((p) => p.targets?.some((t) => t.expr?.includes("kafka_consumergroup_lag")));
    // Summed per partition as the max of the two exporters' series, never twice.
    expect(panel?.targets?.[0]?.expr).toBe("sum by (consumergroup) (max by (consumergroup, topic, partition) (kafka_consumergroup_lag))");
  });
});
