import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { lagDashboard } from "../../functions/lag-dashboard/app.ts";
import type { LagMonitor } from "../../functions/lag-dashboard/monitor.ts";
import { HostMetrics } from "../../shared/host/metrics.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

describe("the Grafana dashboard", () => {
  it("queries only metrics the functions export", async () => {
    const dashboard = JSON.parse(readFileSync(join(repoRoot, "deploy/monitoring/taskapp-dashboard.json"), "utf8")) as {
      panels: { targets: { expr: string }[] }[];
    };
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\b(taskapp|kafka)_[a-z_]+/g) ?? [])));
    const host = new HostMetrics("x");
    const registry = new Registry();
    host.gauge("taskapp_outbox_backlog", "task-api's", () => 0);
    lagDashboard.build({ monitor: { latest: undefined } as unknown as LagMonitor, registry });
    const exported = new Set(
      [...(await host.registry.getMetricsAsJSON()), ...(await registry.getMetricsAsJSON())].flatMap((m) =>
        String(m.type) === "histogram" ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name],
      ),
    );
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });
});
