/**
 * What the cluster says, when the dashboard has one: the ScaledObjects and Deployments from the
 * API server, and the figures KEDA's operator computed on its last poll, from its own metrics
 * endpoint (`keda_scaler_metrics_value`, `keda_scaler_active`).
 */
import { z } from "zod";
import type { KubeApi } from "../../shared/kubernetes.ts";
import { scalerOf, type ScalerSpec } from "./keda-model.ts";

const Condition = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type Condition = z.output<typeof Condition>;

const ScaledObjectList = z.object({
  items: z.array(
    z.looseObject({
      metadata: z.object({ name: z.string() }),
      status: z.object({ conditions: z.array(Condition).optional(), hpaName: z.string().optional() }).optional(),
    }),
  ),
});

const DeploymentList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string() }),
      spec: z.object({ replicas: z.number().optional() }),
      status: z.object({ replicas: z.number().optional(), readyReplicas: z.number().optional() }).optional(),
    }),
  ),
});

const HpaList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string() }),
      status: z.object({ desiredReplicas: z.number().optional(), currentReplicas: z.number().optional() }).optional(),
    }),
  ),
});

/** One trigger's figures as KEDA computed them. */
export interface KedaTriggerFigures {
  triggerIndex: number;
  metric: string;
  value: number;
  active: boolean | undefined;
}

/** A consumer as the cluster reports it. */
export interface ClusterView {
  conditions: Condition[];
  /** The Deployment: replicas asked for (by KEDA or the HPA), running, ready. */
  deployment: { desired: number; replicas: number; ready: number } | undefined;
  /** The HPA KEDA created, once it has run: what it wants. */
  hpa: { desired: number; current: number } | undefined;
  /** Per trigger, from KEDA's metrics endpoint; empty until KEDA has polled. */
  keda: KedaTriggerFigures[];
}

const LABELS = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** The keda_scaler_* samples of a Prometheus text exposition, per ScaledObject and trigger. */
export const parseKedaMetrics = (text: string, namespace: string): Map<string, KedaTriggerFigures[]> => {
  const byObject = new Map<string, Map<number, KedaTriggerFigures>>();
  for (const line of text.split("\n")) {
    const match = /^(keda_scaler_metrics_value|keda_scaler_active)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...match[2]!.matchAll(LABELS)].map((m) => [m[1]!, m[2]!]));
    if (labels["namespace"] !== namespace || labels["type"] !== "scaledobject" || !labels["scaledObject"]) continue;
    const index = Number(labels["triggerIndex"] ?? "0");
    const triggers = byObject.get(labels["scaledObject"]) ?? new Map<number, KedaTriggerFigures>();
    byObject.set(labels["scaledObject"], triggers);
    const figures = triggers.get(index) ?? { triggerIndex: index, metric: labels["metric"] ?? "", value: 0, active: undefined };
    if (match[1] === "keda_scaler_metrics_value") figures.value = Number(match[3]);
    else figures.active = Number(match[3]) === 1;
    triggers.set(index, figures);
  }
  return new Map([...byObject].map(([name, triggers]) => [name, [...triggers.values()].sort((a, b) => a.triggerIndex - b.triggerIndex)]));
};

export class ClusterReader {
  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly kedaMetricsUrl: string | undefined,
  ) {}

  /** The consumers' ScaledObjects as the API server has them. */
  async scalers(): Promise<ScalerSpec[]> {
    const list = ScaledObjectList.parse(await this.api.get(`/apis/keda.sh/v1alpha1/namespaces/${this.namespace}/scaledobjects`));
    return list.items.map((item) => scalerOf(item)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Per ScaledObject name: its conditions, its Deployment and HPA, KEDA's figures. */
  async read(): Promise<Map<string, ClusterView>> {
    const ns = this.namespace;
    const [scaledObjects, deployments, hpas, metrics] = await Promise.all([
      this.api.get(`/apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects`).then((r) => ScaledObjectList.parse(r)),
      this.api.get(`/apis/apps/v1/namespaces/${ns}/deployments`).then((r) => DeploymentList.parse(r)),
      this.api.get(`/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`).then((r) => HpaList.parse(r)),
      // KEDA's own figures are extra: without them (operator unreachable) the card shows the
      // cluster's objects and the model, and says KEDA has not reported yet.
      this.kedaMetricsUrl
        ? fetch(this.kedaMetricsUrl, { signal: AbortSignal.timeout(3_000) })
            .then(async (r) => parseKedaMetrics(await r.text(), ns))
            .catch(() => new Map<string, KedaTriggerFigures[]>())
        : Promise.resolve(new Map<string, KedaTriggerFigures[]>()),
    ]);
    const views = new Map<string, ClusterView>();
    for (const so of scaledObjects.items) {
      const spec = scalerOf(so);
      const deployment = deployments.items.find((d) => d.metadata.name === spec.target);
      const hpa = hpas.items.find((h) => h.metadata.name === (so.status?.hpaName ?? `keda-hpa-${so.metadata.name}`));
      views.set(so.metadata.name, {
        conditions: so.status?.conditions ?? [],
        deployment: deployment && {
          desired: deployment.spec.replicas ?? 1,
          replicas: deployment.status?.replicas ?? 0,
          ready: deployment.status?.readyReplicas ?? 0,
        },
        hpa: hpa?.status && { desired: hpa.status.desiredReplicas ?? 0, current: hpa.status.currentReplicas ?? 0 },
        keda: metrics.get(so.metadata.name) ?? [],
      });
    }
    return views;
  }
}
