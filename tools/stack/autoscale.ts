/**
 * The autoscaled local mode: the control plane beside the stack, the project's own manifests
 * (deploy/overlays/local: the base with its ScaledObjects and consumer Deployments) applied to it
 * with the local broker's address, and the replica runner starting and stopping consumer copies
 * as KEDA and the HPA set their Deployments' replicas. Used by `npm run dev -- --autoscale`, the
 * autoscaling tests and the scale-from-zero bench.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { z } from "zod";
import { CONSUMERS, KUBERNETES_NAMESPACE, type ServiceName } from "../../shared/catalog/names.ts";
import type { KubeApi, KubeObject } from "../../shared/kubernetes.ts";
import { renderKustomization } from "../manifests/render.ts";
import { startControlPlane, type ControlPlane } from "./control-plane.ts";
import { repoRoot } from "./paths.ts";
import { waitUntil } from "./process.ts";
import { ReplicaRunner, type ReplicaEvent } from "./replicas.ts";
import type { StackInfo } from "./stack.ts";

const LOCAL_OVERLAY = join(repoRoot, "deploy/overlays/local");
const KAFKA_BOOTSTRAP_COMPONENT = join(repoRoot, "deploy/components/kafka-bootstrap");
const FIELD_MANAGER = "task-events-local";

/** Values of the Secrets the manifests reference (docs/deploy.md), for the local control plane. */
export interface LocalSecrets {
  jwtSecret: string;
  /** The value of every Dapr token Secret (<service>-app-token, <service>-dapr-api-token). */
  appToken: string;
}

export interface AutoscalingOptions {
  /** The control plane's folder (certificates, etcd, kubeconfig, the rendered overlay). */
  dir: string;
  secrets: LocalSecrets;
  /** Environment of each consumer copy besides what every function gets. */
  env?: (service: ServiceName) => Record<string, string>;
  onEvent?: (event: ReplicaEvent) => void;
  log?: (line: string) => void;
}

export interface Autoscaling {
  controlPlane: ControlPlane;
  runner: ReplicaRunner;
  stop(): Promise<void>;
}

/**
 * deploy/overlays/local with the stack's broker as its kafka-bootstrap setting: a kustomization
 * written into `dir` that adds the ConfigMap and component the other overlays have.
 */
export const renderLocalOverlay = async (stack: StackInfo, dir: string): Promise<KubeObject[]> => {
  const overlay = join(dir, "overlay");
  mkdirSync(overlay, { recursive: true });
  writeFileSync(
    join(overlay, "kustomization.yaml"),
    [
      "# Written by tools/stack/autoscale.ts: deploy/overlays/local with this run's broker.",
      "apiVersion: kustomize.config.k8s.io/v1beta1",
      "kind: Kustomization",
      "resources:",
      `  - ${relative(overlay, LOCAL_OVERLAY)}`,
      "components:",
      `  - ${relative(overlay, KAFKA_BOOTSTRAP_COMPONENT)}`,
      "configMapGenerator:",
      "  - name: kafka-bootstrap",
      `    namespace: ${KUBERNETES_NAMESPACE}`,
      "    literals:",
      `      - bootstrapServers=${stack.kafkaBrokers}`,
      "    options:",
      "      disableNameSuffixHash: true",
      "      annotations:",
      '        config.kubernetes.io/local-config: "true"',
      "",
    ].join("\n"),
  );
  return renderKustomization(overlay);
};

/**
 * The Secrets the rendered Deployments reference (KEDA resolves a scale target's Secret references
 * before it scales), with local values: Cosmos DB's endpoint and key of the stack, the JWT secret,
 * and a token for every Dapr token Secret (the local processes get theirs from the stack, not from
 * these; KEDA only needs them to exist). A reference this does not know stops the run, naming it.
 */
export const secretsFor = (stack: StackInfo, secrets: LocalSecrets, objects: readonly KubeObject[]): KubeObject[] => {
  const secretValue = (name: string, key: string): string => {
    if (name.endsWith("-cosmos") && key === "endpoint") return stack.cosmosEndpoint;
    if (name.endsWith("-cosmos") && key === "key") return stack.cosmosKey;
    if (key === "jwt-secret") return secrets.jwtSecret;
    if (key === "token" && (name.endsWith("-app-token") || name.endsWith("-dapr-api-token"))) return secrets.appToken;
    throw new Error(`the local control plane has no value for Secret ${name}, key ${key} (tools/stack/autoscale.ts)`);
  };
  const wanted = new Map<string, Record<string, string>>();
  for (const o of objects.filter((o) => o.kind === "Deployment")) {
    const { spec } = DeploymentEnv.parse(o);
    for (const container of spec.template.spec.containers) {
      for (const ref of (container.env ?? []).map((e) => e.valueFrom?.secretKeyRef).filter((r) => r !== undefined)) {
        wanted.set(ref.name, { ...wanted.get(ref.name), [ref.key]: secretValue(ref.name, ref.key) });
      }
    }
  }
  return [...wanted].map(([name, stringData]) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: KUBERNETES_NAMESPACE },
    stringData,
  }));
};

const DeploymentEnv = z.object({
  spec: z.object({
    template: z.object({
      spec: z.object({
        containers: z.array(
          z.object({
            env: z.array(z.object({ valueFrom: z.object({ secretKeyRef: z.object({ name: z.string(), key: z.string() }).optional() }).optional() })).optional(),
          }),
        ),
      }),
    }),
  }),
});

const ScaledObjectStatus = z.object({
  status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string(), message: z.string().optional() })).optional() }).optional(),
});

/**
 * Applies the rendered objects in the order a cluster needs them: namespaces, the Secrets (KEDA
 * resolves a target's Secret references before it scales), everything else, the ScaledObjects
 * last; then waits until KEDA reports each ScaledObject ready.
 */
export const applyLocalManifests = async (api: KubeApi, objects: KubeObject[], secrets: KubeObject[]): Promise<void> => {
  const apply = (list: KubeObject[]) => Promise.all(list.map((o) => api.apply(o, { fieldManager: FIELD_MANAGER })));
  await apply(objects.filter((o) => o.kind === "Namespace"));
  await apply(secrets);
  await apply(objects.filter((o) => o.kind !== "Namespace" && o.kind !== "ScaledObject"));
  const scaledObjects = objects.filter((o) => o.kind === "ScaledObject");
  await apply(scaledObjects);
  await Promise.all(
    scaledObjects.map((so) =>
      waitUntil(
        `KEDA to report ScaledObject ${so.metadata.name} ready`,
        async () => {
          const status = ScaledObjectStatus.parse(await api.get(`/apis/keda.sh/v1alpha1/namespaces/${KUBERNETES_NAMESPACE}/scaledobjects/${so.metadata.name}`));
          return status.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      ),
    ),
  );
};

/** Starts the control plane in autoscaling mode, applies the local overlay, runs the consumers' replicas. */
export const startAutoscaling = async (stack: StackInfo, opts: AutoscalingOptions): Promise<Autoscaling> => {
  const [controlPlane, objects] = await Promise.all([
    startControlPlane({
      dir: opts.dir,
      logDir: stack.logDir,
      pidDir: stack.pidDir,
      mode: "autoscaling",
      // The HPA reacts within 2 s and scales in 10 s after the metric drops, like the overlay's cooldown.
      hpa: { syncPeriodSeconds: 2, downscaleStabilizationSeconds: 10 },
      ...(opts.log ? { log: opts.log } : {}),
    }),
    renderLocalOverlay(stack, opts.dir),
  ]);
  let runner: ReplicaRunner | undefined;
  try {
    await applyLocalManifests(controlPlane.api, objects, secretsFor(stack, opts.secrets, objects));
    runner = new ReplicaRunner({
      api: controlPlane.api,
      namespace: KUBERNETES_NAMESPACE,
      stack,
      services: CONSUMERS,
      env: opts.env ?? (() => ({})),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
    await runner.start();
  } catch (err) {
    await runner?.stop();
    await controlPlane.stop();
    throw err;
  }
  const started = runner;
  return {
    controlPlane,
    runner: started,
    stop: async () => {
      await started.stop();
      await controlPlane.stop();
    },
  };
};

/** What lag-dashboard needs to read the control plane and KEDA's own figures. */
export const dashboardClusterEnv = ({ controlPlane }: Autoscaling): Record<string, string> => ({
  CLUSTER_KUBECONFIG: controlPlane.kubeconfig,
  ...(controlPlane.kedaMetricsUrl ? { KEDA_METRICS_URL: controlPlane.kedaMetricsUrl } : {}),
});
