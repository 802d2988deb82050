/**
 * The parts of rendered objects the cross-checks read, and the helpers they share. Only what a
 * check reads is typed; the API server has already validated the rest against its schemas.
 */
import type { ServiceName } from "../../../shared/catalog/names.ts";
import type { K8sObject } from "../render.ts";

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name?: string; key?: string };
    configMapKeyRef?: { name?: string; key?: string };
    fieldRef?: { fieldPath?: string };
  };
}

export interface Probe {
  httpGet?: { path?: string; port?: string | number };
}

export interface Container {
  name?: string;
  image?: string;
  ports?: { name?: string; containerPort?: number }[];
  env?: EnvVar[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}

export interface Deployment extends K8sObject {
  spec?: {
    replicas?: number;
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        serviceAccountName?: string;
        automountServiceAccountToken?: boolean;
        securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
        containers?: Container[];
      };
    };
  };
}

export interface KubeService extends K8sObject {
  spec?: { selector?: Record<string, string>; ports?: { name?: string; port?: number; targetPort?: string | number }[] };
}

export interface ServiceAccount extends K8sObject {
  automountServiceAccountToken?: boolean;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
}

export interface Role extends K8sObject {
  rules?: PolicyRule[];
}

export interface RoleBinding extends K8sObject {
  roleRef?: { kind?: string; name?: string };
  subjects?: { kind?: string; name?: string; namespace?: string }[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key?: string; operator?: string; values?: string[] }[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr?: string };
}

export interface NetworkPolicy extends K8sObject {
  spec?: {
    podSelector?: LabelSelector;
    policyTypes?: string[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: { port?: string | number; protocol?: string }[] }[];
  };
}

export interface Trigger {
  type?: string;
  metadata?: Record<string, string>;
  authenticationRef?: { name?: string; kind?: string };
}

export interface ScaledObject extends K8sObject {
  spec?: {
    scaleTargetRef?: { name?: string; kind?: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: Trigger[];
  };
}

export interface TriggerAuthentication extends K8sObject {
  spec?: {
    secretTargetRef?: { parameter?: string; name?: string; key?: string }[];
    configMapTargetRef?: { parameter?: string; name?: string; key?: string }[];
  };
}

export interface ComponentMetadata {
  name: string;
  value?: unknown;
  secretKeyRef?: { name?: string; key?: string };
}

export interface Component extends K8sObject {
  spec?: { type?: string; metadata?: ComponentMetadata[] };
  scopes?: string[];
}

export interface ConfigMap extends K8sObject {
  data?: Record<string, string>;
}

export interface KafkaTopic extends K8sObject {
  spec?: { topicName?: string; partitions?: number; config?: Record<string, unknown> };
}

export interface Kafka extends K8sObject {
  spec?: { kafkaExporter?: { groupRegex?: string; topicRegex?: string } };
}

export interface Retry {
  policy?: string;
  maxRetries?: number;
  maxInterval?: string;
  duration?: string;
}

export interface PolicyRef {
  retry?: string;
  circuitBreaker?: string;
  timeout?: string;
}

export interface Resiliency extends K8sObject {
  spec?: {
    policies?: { retries?: Record<string, Retry>; circuitBreakers?: Record<string, unknown> };
    targets?: { components?: Record<string, { inbound?: PolicyRef; outbound?: PolicyRef }>; apps?: Record<string, PolicyRef> };
  };
}

export interface Configuration extends K8sObject {
  spec?: {
    accessControl?: {
      defaultAction?: string;
      policies?: { appId?: string; defaultAction?: string; namespace?: string; operations?: { name?: string; action?: string }[] }[];
    };
  };
}

export interface MonitorEndpoint {
  port?: string;
  path?: string;
}

/** PodMonitor or ServiceMonitor of the Prometheus Operator. */
export interface Monitor extends K8sObject {
  spec?: {
    selector?: LabelSelector;
    namespaceSelector?: { matchNames?: string[]; any?: boolean };
    podMetricsEndpoints?: MonitorEndpoint[];
    endpoints?: MonitorEndpoint[];
  };
}

/** What the checks know from the code, not from the manifests. */
export interface CheckContext {
  /** The functions the manifests run. */
  deployed: readonly ServiceName[];
  /** For each Dapr component, the apps whose code uses it: its scopes must be exactly these. */
  componentUsers: Readonly<Record<string, readonly string[]>>;
  /** The retry policies of dapr/local/resources/resiliency.yaml: the cluster keeps the same bounds. */
  localRetries: Readonly<Record<string, Retry>>;
  /** The apps allowed to invoke task-api's internal API (functions/task-api/app.ts). */
  taskApiCallers: readonly ServiceName[];
}

/** The objects of one rendered overlay, by kind. */
export class Rendered {
  constructor(readonly objects: readonly K8sObject[]) {}

  of<T extends K8sObject>(kind: string, group?: string): T[] {
    return this.objects.filter((o) => o.kind === kind && (group === undefined || o.apiVersion.startsWith(`${group}/`))) as T[];
  }

  /** A core (v1) kind: Service, Secret, ConfigMap, ServiceAccount. */
  core<T extends K8sObject>(kind: string): T[] {
    return this.objects.filter((o) => o.apiVersion === "v1" && o.kind === kind) as T[];
  }

  named<T extends K8sObject>(list: readonly T[], name: string): T | undefined {
    return list.find((o) => o.metadata.name === name);
  }
}

export const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

export const list = (items: readonly string[]): string => `[${items.join(", ")}]`;

/** Metadata keys and env names whose value is a credential. */
export const SECRET_NAME = /(password|secret|token|masterkey|accesskey|apikey|connectionstring|credential|^key$|_key$)/i;

/** A component's metadata value as a string, if it has a literal one. */
export const metaValue = (c: Component, name: string): string | undefined => {
  const v = c.spec?.metadata?.find((m) => m.name === name)?.value;
  return v === undefined ? undefined : String(v);
};

/** The label every object of a function carries with its name. */
export const NAME_LABEL = "app.kubernetes.io/name";

/** The container of a function's Deployment (named like it). */
export const containerOf = (d: Deployment): Container | undefined => d.spec?.template?.spec?.containers?.find((c) => c.name === d.metadata.name);

export const envOf = (c: Container | undefined): Map<string, EnvVar> => new Map((c?.env ?? []).map((e) => [e.name, e]));
