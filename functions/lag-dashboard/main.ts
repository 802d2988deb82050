import { join } from "node:path";
import { z } from "zod";
import { KUBERNETES_NAMESPACE, Service } from "../../shared/catalog/names.ts";
import { parseConfig } from "../../shared/config.ts";
import { runFunction } from "../../shared/host/run.ts";
import { KubeApi, kubeAccessFromKubeconfig } from "../../shared/kubernetes.ts";
import { lagDashboard } from "./app.ts";
import { ClusterReader } from "./cluster.ts";
import { LagMonitor, loadScalers } from "./monitor.ts";
import { OffsetReader } from "./offsets.ts";

const DashboardConfig = z.object({
  /** The brokers to read offsets from (the same cluster the pub/sub component uses). */
  KAFKA_BROKERS: z.string().min(1),
  /** Where the consumers' ScaledObjects are when there is no control plane (the repository's keda/ folder). */
  KEDA_DIR: z.string().min(1).default(join(import.meta.dirname, "../../keda")),
  /**
   * A control plane to read ScaledObjects and Deployments from, instead of KEDA_DIR (a kubeconfig
   * with a bearer token, as `npm run dev -- --autoscale` writes). Not KUBECONFIG: a shell's cluster is
   * not read unless asked for.
   */
  CLUSTER_KUBECONFIG: z.string().min(1).optional(),
  KUBERNETES_NAMESPACE: z.string().min(1).default(KUBERNETES_NAMESPACE),
  /** KEDA operator's Prometheus endpoint: the metric values and activity KEDA computed. */
  KEDA_METRICS_URL: z.string().url().optional(),
});

// Operators open it on PORT (default 8090); a runner that assigns PUBLIC_PORT wins.
process.env["PUBLIC_PORT"] ??= process.env["PORT"] ?? "8090";

await runFunction(Service.LagDashboard, ({ log, metrics }) => {
  const config = parseConfig(DashboardConfig);
  const reader = new OffsetReader(config.KAFKA_BROKERS);
  const api = config.CLUSTER_KUBECONFIG ? new KubeApi(kubeAccessFromKubeconfig(config.CLUSTER_KUBECONFIG)) : undefined;
  const cluster = api && new ClusterReader(api, config.KUBERNETES_NAMESPACE, config.KEDA_METRICS_URL);
  const monitor = cluster
    ? new LagMonitor(reader, [], log, undefined, cluster)
    : new LagMonitor(reader, loadScalers(config.KEDA_DIR), log);
  return lagDashboard({
    monitor,
    registry: metrics.registry,
    onClose: async () => {
      api?.close();
      await reader.close();
    },
  });
});
