import { join } from "node:path";
import { z } from "zod";
import { KUBERNETES_NAMESPACE, Service } from "../../shared/catalog/names.ts";
import { DASHBOARD_PORT } from "../../shared/catalog/ports.ts";
import { parseConfig } from "../../shared/config.ts";
import { runFunction } from "../../shared/host/run.ts";
import { KubeApi, kubeAccessFromKubeconfig, kubeAccessInCluster, type KubeAccess } from "../../shared/kubernetes.ts";
import { lagDashboard } from "./app.ts";
import { ClusterReader } from "./cluster.ts";
import { KafkaAccessConfig, kafkaAccessOf, KafkaReader } from "../../shared/kafka.ts";
import { LagMonitor, loadScalers } from "./monitor.ts";

const DashboardConfig = z
  .object({
    /** Where the consumers' ScaledObjects are when there is no control plane (the repository's keda/ folder). */
    KEDA_DIR: z
      .string()
      .min(1)
      .default(join(import.meta.dirname, "../../keda")),
    /**
     * A control plane to read ScaledObjects, Deployments and HPAs from, instead of KEDA_DIR (a
     * kubeconfig with a bearer token, as `npm run dev -- --autoscale` writes). Not KUBECONFIG: a
     * shell's cluster is not read unless asked for.
     */
    CLUSTER_KUBECONFIG: z.string().min(1).optional(),
    /**
     * In a pod: read the API server with the pod's service account (its mounted token and CA,
     * KUBERNETES_SERVICE_HOST/PORT). deploy/base/lag-dashboard.yaml sets it, with RBAC to read.
     */
    CLUSTER_SERVICE_ACCOUNT: z.stringbool().default(false),
    KUBERNETES_NAMESPACE: z.string().min(1).default(KUBERNETES_NAMESPACE),
    /** KEDA operator's Prometheus endpoint: the metric values and activity KEDA computed. */
    KEDA_METRICS_URL: z.string().url().optional(),
  })
  .refine((c) => !(c.CLUSTER_KUBECONFIG && c.CLUSTER_SERVICE_ACCOUNT), {
    message: "set CLUSTER_KUBECONFIG or CLUSTER_SERVICE_ACCOUNT, not both",
    path: ["CLUSTER_SERVICE_ACCOUNT"],
  });

/** How the dashboard reaches a control plane, if it reads one. */
const clusterAccessOf = (config: z.output<typeof DashboardConfig>): KubeAccess | undefined => {
  if (config.CLUSTER_SERVICE_ACCOUNT) return kubeAccessInCluster();
  if (config.CLUSTER_KUBECONFIG) return kubeAccessFromKubeconfig(config.CLUSTER_KUBECONFIG);
  return undefined;
};

// Operators open it on PORT (default 8090); a runner that assigns PUBLIC_PORT wins.
process.env["PUBLIC_PORT"] ??= process.env["PORT"] ?? String(DASHBOARD_PORT);

await runFunction(lagDashboard, ({ log, metrics }) => {
  const config = parseConfig(DashboardConfig);
  const reader = new KafkaReader(kafkaAccessOf(parseConfig(KafkaAccessConfig)), Service.LagDashboard);
  const access = clusterAccessOf(config);
  const api = access && new KubeApi(access);
  const cluster = api && new ClusterReader(api, config.KUBERNETES_NAMESPACE, config.KEDA_METRICS_URL);
  const monitor = cluster ? new LagMonitor(reader, [], log, undefined, cluster) : new LagMonitor(reader, loadScalers(config.KEDA_DIR), log);
  return {
    monitor,
    registry: metrics.registry,
    onClose: async () => {
      api?.close();
      await reader.close();
    },
  };
});
