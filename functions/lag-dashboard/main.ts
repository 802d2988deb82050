import { join } from "node:path";
import { z } from "zod";
import { Service } from "../../shared/catalog/names.ts";
import { parseConfig } from "../../shared/config.ts";
import { runFunction } from "../../shared/host/run.ts";
import { lagDashboard } from "./app.ts";
import { LagMonitor, loadScalers } from "./monitor.ts";
import { OffsetReader } from "./offsets.ts";

const DashboardConfig = z.object({
  /** The brokers to read offsets from (the same cluster the pub/sub component uses). */
  KAFKA_BROKERS: z.string().min(1),
  /** Where the consumers' ScaledObjects are (the repository's keda/ folder, or a mounted ConfigMap). */
  KEDA_DIR: z.string().min(1).default(join(import.meta.dirname, "../../keda")),
});

// Operators open it on PORT (default 8090); a runner that assigns APP_PORT wins.
process.env["APP_PORT"] ??= process.env["PORT"] ?? "8090";

await runFunction(Service.LagDashboard, ({ log, metrics }) => {
  const config = parseConfig(DashboardConfig);
  const reader = new OffsetReader(config.KAFKA_BROKERS);
  const monitor = new LagMonitor(reader, loadScalers(config.KEDA_DIR), log);
  return lagDashboard({ monitor, registry: metrics.registry, onClose: () => reader.close() });
});
