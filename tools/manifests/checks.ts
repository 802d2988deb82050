/**
 * Cross-checks of a rendered overlay: the facts that tie Kubernetes, Dapr, KEDA and Kafka
 * together and that no schema can see (docs/deploy.md lists them).
 */
import { join } from "node:path";
import {
  COMPONENTS_USED,
  TASK_API_CALLERS,
  allTopics,
  CONSUMERS,
  PUBSUB,
  Service,
  STATE_STORE,
  TOPIC_CONSUMERS,
  type ServiceName,
  type TopicName,
} from "../../shared/catalog/names.ts";
import { repoRoot } from "../stack/paths.ts";
import { readYamlDocuments, type K8sObject } from "./render.ts";

// ---------------------------------------------------------------- the parts of objects read here

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name?: string; key?: string }; configMapKeyRef?: { name?: string; key?: string } };
}

interface Container {
  name?: string;
  ports?: { name?: string; containerPort?: number }[];
  env?: EnvVar[];
  readinessProbe?: { httpGet?: { path?: string } };
  livenessProbe?: { httpGet?: { path?: string } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}

interface DeploymentSpec {
  spec?: {
    replicas?: number;
    template?: {
      metadata?: { annotations?: Record<string, string> };
      spec?: {
        securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
        containers?: Container[];
      };
    };
  };
}

interface Trigger {
  type?: string;
  metadata?: Record<string, string>;
  authenticationRef?: { name?: string; kind?: string };
}

interface ScaledObjectSpec {
  spec?: {
    scaleTargetRef?: { name?: string; kind?: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: Trigger[];
  };
}

interface ComponentSpec {
  spec?: {
    type?: string;
    metadata?: { name: string; value?: unknown; secretKeyRef?: { name?: string; key?: string } }[];
  };
  scopes?: string[];
}

interface KafkaTopicSpec {
  spec?: { topicName?: string; partitions?: number; config?: Record<string, unknown> };
}

interface PolicyRef {
  retry?: string;
  circuitBreaker?: string;
  timeout?: string;
}

interface Retry {
  policy?: string;
  maxRetries?: number;
  maxInterval?: string;
  duration?: string;
}

interface ResiliencySpec {
  spec?: {
    policies?: { retries?: Record<string, Retry>; circuitBreakers?: Record<string, unknown> };
    targets?: { components?: Record<string, { inbound?: PolicyRef; outbound?: PolicyRef }>; apps?: Record<string, PolicyRef> };
  };
}

interface ConfigurationSpec {
  spec?: {
    accessControl?: {
      defaultAction?: string;
      policies?: { appId?: string; defaultAction?: string; namespace?: string; operations?: { name?: string; action?: string }[] }[];
    };
  };
}

// ---------------------------------------------------------------- what the code says

export interface CheckContext {
  /** For each Dapr component, the apps whose code uses it: its scopes must be exactly these. */
  componentUsers: Readonly<Record<string, readonly ServiceName[]>>;
  /** The retry policies of dapr/local/resources/resiliency.yaml: the cluster keeps the same bounds. */
  localRetries: Readonly<Record<string, Retry>>;
  /** The apps allowed to invoke task-api's internal API (functions/task-api/app.ts). */
  taskApiCallers: readonly ServiceName[];
}

const ALL_SERVICES: readonly ServiceName[] = Object.values(Service);

/** The functions the manifests run: each has a Deployment, a Service and a Dockerfile. */
export const DEPLOYED_FUNCTIONS: readonly ServiceName[] = [
  Service.TaskApi,
  Service.RecurringTaskService,
  Service.NotificationService,
  Service.AuditService,
];

/**
 * Services of the catalog the manifests do not run, and why. Every service is in one of the two
 * lists, so a new function is a decision here, not an omission.
 */
export const NOT_DEPLOYED: Readonly<Partial<Record<ServiceName, string>>> = {
  [Service.LagDashboard]: "operator tool for npm run dev; its Kafka admin client has no SASL/TLS settings yet",
};

export const loadCheckContext = async (): Promise<CheckContext> => {
  const [local] = (await readYamlDocuments([join(repoRoot, "dapr/local/resources/resiliency.yaml")])) as ResiliencySpec[];
  return {
    componentUsers: {
      [PUBSUB]: DEPLOYED_FUNCTIONS.filter((service) => COMPONENTS_USED[service].includes(PUBSUB)),
      [STATE_STORE]: DEPLOYED_FUNCTIONS.filter((service) => COMPONENTS_USED[service].includes(STATE_STORE)),
    },
    localRetries: local?.spec?.policies?.retries ?? {},
    taskApiCallers: TASK_API_CALLERS,
  };
};

// ---------------------------------------------------------------- helpers

const TOPICS = new Map(allTopics().map((t) => [t.name, t]));

const consumedTopics = (service: ServiceName): TopicName[] =>
  (Object.keys(TOPIC_CONSUMERS) as TopicName[]).filter((topic) => TOPIC_CONSUMERS[topic].includes(service));

const isKind = (o: K8sObject, kind: string, group?: string): boolean =>
  o.kind === kind && (group === undefined || o.apiVersion.startsWith(`${group}/`));

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

const list = (items: readonly string[]): string => `[${items.join(", ")}]`;

const sameRetry = (a: Retry | undefined, b: Retry | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.policy === b.policy &&
  a.maxRetries === b.maxRetries &&
  a.maxInterval === b.maxInterval &&
  a.duration === b.duration;

/** Metadata keys and env names whose value is a credential. */
const SECRET_NAME = /(password|secret|token|masterkey|accesskey|apikey|connectionstring|credential|^key$|_key$)/i;

// ---------------------------------------------------------------- the checks

/** Every cross-check; one line per problem, naming the object and what is wrong. */
export const crossCheck = (objects: readonly K8sObject[], context: CheckContext): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);

  const deployments = new Map(objects.filter((o) => isKind(o, "Deployment", "apps")).map((o) => [o.metadata.name, o as K8sObject & DeploymentSpec]));
  const services = new Set(objects.filter((o) => o.apiVersion === "v1" && o.kind === "Service").map((o) => o.metadata.name));
  const scaledObjects = objects.filter((o) => isKind(o, "ScaledObject", "keda.sh")) as (K8sObject & ScaledObjectSpec)[];
  const triggerAuths = new Set(objects.filter((o) => isKind(o, "TriggerAuthentication", "keda.sh")).map((o) => o.metadata.name));
  const components = objects.filter((o) => isKind(o, "Component", "dapr.io")) as (K8sObject & ComponentSpec)[];
  const configurations = objects.filter((o) => isKind(o, "Configuration", "dapr.io")) as (K8sObject & ConfigurationSpec)[];
  const kafkas = objects.filter((o) => isKind(o, "Kafka", "kafka.strimzi.io"));
  const kafkaTopics = objects.filter((o) => isKind(o, "KafkaTopic", "kafka.strimzi.io")) as (K8sObject & KafkaTopicSpec)[];
  const topicOf = (t: K8sObject & KafkaTopicSpec) => t.spec?.topicName ?? t.metadata.name;

  // No credentials in the repo: no Secret objects, no literal secret values.
  for (const o of objects.filter((o) => o.apiVersion === "v1" && o.kind === "Secret")) {
    add(`Secret/${o.metadata.name}: Secrets are created in the cluster (docs/deploy.md), never kept in the manifests`);
  }

  // ------------------------------------------------ Deployments: one per function, named like it
  for (const service of ALL_SERVICES) {
    if (!DEPLOYED_FUNCTIONS.includes(service) && NOT_DEPLOYED[service] === undefined) {
      add(`${service}: a service of the catalog that is neither deployed nor listed as not deployed (tools/manifests/checks.ts)`);
    }
  }
  for (const service of DEPLOYED_FUNCTIONS) {
    const d = deployments.get(service);
    if (!d) {
      add(`Deployment/${service} is missing`);
      continue;
    }
    if (!services.has(service)) add(`Service/${service} is missing`);
    const annotations = d.spec?.template?.metadata?.annotations ?? {};
    const appId = annotations["dapr.io/app-id"];
    if (appId !== service) add(`Deployment/${service}: dapr.io/app-id "${appId ?? ""}" differs from the Deployment name`);
    if (annotations["dapr.io/enabled"] !== "true") add(`Deployment/${service}: dapr.io/enabled must be "true"`);
    if (annotations["dapr.io/app-protocol"] !== "http") add(`Deployment/${service}: dapr.io/app-protocol must be "http"`);
    const config = annotations["dapr.io/config"];
    if (!config || !configurations.some((c) => c.metadata.name === config)) {
      add(`Deployment/${service}: dapr.io/config "${config ?? ""}" names no Dapr Configuration`);
    }

    const pod = d.spec?.template?.spec;
    if (pod?.securityContext?.runAsNonRoot !== true) add(`Deployment/${service}: pod must set runAsNonRoot: true`);
    if (pod?.securityContext?.seccompProfile?.type !== "RuntimeDefault") add(`Deployment/${service}: pod must use seccomp RuntimeDefault`);
    const container = pod?.containers?.find((c) => c.name === service);
    if (!container) {
      add(`Deployment/${service}: no container named ${service}`);
    } else {
      const httpPort = container.ports?.find((p) => p.name === "http")?.containerPort;
      if (String(httpPort) !== annotations["dapr.io/app-port"]) {
        add(`Deployment/${service}: dapr.io/app-port "${annotations["dapr.io/app-port"] ?? ""}" differs from the http port ${String(httpPort)}`);
      }
      const env = new Map((container.env ?? []).map((e) => [e.name, e]));
      if (env.get("APP_HOST")?.value !== "0.0.0.0") add(`Deployment/${service}: APP_HOST must be 0.0.0.0 (probes come from the kubelet)`);
      if (env.get("APP_PORT")?.value !== String(httpPort)) add(`Deployment/${service}: APP_PORT differs from the http port`);
      if (container.readinessProbe?.httpGet?.path !== "/healthz") add(`Deployment/${service}: readinessProbe must GET /healthz`);
      if (container.livenessProbe?.httpGet?.path !== "/healthz") add(`Deployment/${service}: livenessProbe must GET /healthz`);
      if (!container.resources?.requests || !container.resources.limits) add(`Deployment/${service}: needs resource requests and limits`);
      const sc = container.securityContext;
      if (sc?.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || !sc.capabilities?.drop?.includes("ALL")) {
        add(`Deployment/${service}: container must set readOnlyRootFilesystem, no privilege escalation and drop ALL capabilities`);
      }
    }

    // KEDA owns a consumer's replica count; task-api is always on.
    const replicas = d.spec?.replicas;
    if ((CONSUMERS as readonly string[]).includes(service)) {
      if (replicas !== undefined) add(`Deployment/${service}: sets replicas (${replicas}); KEDA owns a consumer's replica count`);
    } else if (replicas === undefined || replicas < 1) {
      add(`Deployment/${service}: needs replicas ≥ 1 (always on, never scaled to zero)`);
    }
  }

  for (const d of deployments.values()) {
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      for (const e of c.env ?? []) {
        if (SECRET_NAME.test(e.name) && e.value !== undefined) {
          add(`Deployment/${d.metadata.name}: env ${e.name} is a literal value; take it from a Secret (secretKeyRef)`);
        }
      }
    }
  }

  // ------------------------------------------------ Dapr components: scopes, credentials, offsets
  const pubsub = components.find((c) => c.metadata.name === PUBSUB);
  if (!pubsub) add(`Component/${PUBSUB} is missing`);
  if (!components.some((c) => c.metadata.name === STATE_STORE)) add(`Component/${STATE_STORE} is missing`);
  const meta = (c: ComponentSpec, name: string): string | undefined => {
    const v = c.spec?.metadata?.find((m) => m.name === name)?.value;
    return v === undefined ? undefined : String(v);
  };

  for (const c of components) {
    const id = `Component/${c.metadata.name}`;
    const users = context.componentUsers[c.metadata.name];
    if (!users) {
      add(`${id}: not a component the functions use (${list(Object.keys(context.componentUsers))})`);
    } else if (!sameSet(c.scopes ?? [], users)) {
      add(`${id}: scopes ${list(c.scopes ?? [])} differ from the apps that use it ${list(users)}`);
    }
    for (const m of c.spec?.metadata ?? []) {
      if (SECRET_NAME.test(m.name) && m.value !== undefined) add(`${id}: metadata ${m.name} is a literal value; use secretKeyRef`);
    }
    if (c.spec?.type === "pubsub.kafka") {
      if (meta(c, "initialOffset") !== "oldest") add(`${id}: initialOffset must be "oldest" (paired with KEDA offsetResetPolicy: earliest)`);
      const group = meta(c, "consumerGroup");
      if (group !== undefined && group !== "{appID}") add(`${id}: consumerGroup "${group}" must be unset or {appID} (the KEDA consumerGroup is the app-id)`);
    }
  }

  // ------------------------------------------------ Dapr configuration and resiliency
  for (const c of configurations) {
    const acl = c.spec?.accessControl;
    const callers = (acl?.policies ?? []).map((p) => p.appId ?? "");
    if (acl?.defaultAction !== "deny" || !sameSet(callers, context.taskApiCallers)) {
      add(`Configuration/${c.metadata.name}: accessControl must deny by default and allow only ${list(context.taskApiCallers)} (it allows ${list(callers)})`);
    }
  }
  const resiliencies = objects.filter((o) => isKind(o, "Resiliency", "dapr.io")) as (K8sObject & ResiliencySpec)[];
  if (resiliencies.length === 0) add("Resiliency is missing");
  for (const r of resiliencies) {
    const id = `Resiliency/${r.metadata.name}`;
    const retries = r.spec?.policies?.retries ?? {};
    const breakers = r.spec?.policies?.circuitBreakers ?? {};
    const target = r.spec?.targets?.components?.[PUBSUB];
    for (const direction of ["inbound", "outbound"] as const) {
      const ref = target?.[direction];
      const retry = ref?.retry ? retries[ref.retry] : undefined;
      if (!retry || retry.maxRetries === undefined || retry.maxRetries < 0) add(`${id}: ${PUBSUB} ${direction} needs a bounded retry (maxRetries ≥ 0)`);
      if (!ref?.circuitBreaker || !breakers[ref.circuitBreaker]) add(`${id}: ${PUBSUB} ${direction} needs a circuit breaker`);
      const local = ref?.retry ? context.localRetries[ref.retry] : undefined;
      if (ref?.retry && !sameRetry(local, retry)) {
        add(`${id}: retry policy ${ref.retry} differs from dapr/local/resources/resiliency.yaml`);
      }
    }
  }

  // ------------------------------------------------ KEDA: one ScaledObject per consumer
  if (scaledObjects.some((s) => s.metadata.name === Service.TaskApi || s.spec?.scaleTargetRef?.name === Service.TaskApi)) {
    add(`ScaledObject for ${Service.TaskApi}: task-api is always on and must not be scaled by KEDA`);
  }
  for (const consumer of CONSUMERS) {
    if (!scaledObjects.some((s) => s.metadata.name === consumer)) add(`ScaledObject/${consumer} is missing`);
  }
  const brokers = pubsub ? meta(pubsub, "brokers") : undefined;
  const pubsubAuthenticates = pubsub ? meta(pubsub, "authType") !== "none" : false;

  for (const s of scaledObjects) {
    const name = s.metadata.name;
    const id = `ScaledObject/${name}`;
    const target = s.spec?.scaleTargetRef;
    if (target?.name !== name) add(`${id}: scaleTargetRef.name "${target?.name ?? ""}" differs from the ScaledObject name`);
    if (target?.name && !deployments.has(target.name)) add(`${id}: scaleTargetRef names no Deployment "${target.name}"`);
    if (target?.kind !== undefined && target.kind !== "Deployment") add(`${id}: scaleTargetRef must be a Deployment`);
    if (s.spec?.minReplicaCount !== 0) add(`${id}: minReplicaCount must be 0 (scale to zero)`);

    const triggers = (s.spec?.triggers ?? []).filter((t) => t.type === "kafka");
    if (triggers.length === 0) add(`${id}: has no kafka trigger`);
    const topics: string[] = [];
    triggers.forEach((t, i) => {
      const m = t.metadata ?? {};
      const tid = `${id}: trigger ${i}`;
      const appId = deployments.get(name)?.spec?.template?.metadata?.annotations?.["dapr.io/app-id"] ?? name;
      if (m["consumerGroup"] !== appId) add(`${tid} consumerGroup "${m["consumerGroup"] ?? ""}" differs from the app-id "${appId}"`);
      if (m["offsetResetPolicy"] !== "earliest") {
        add(`${tid} offsetResetPolicy "${m["offsetResetPolicy"] ?? ""}" must be "earliest" (paired with Dapr initialOffset: oldest)`);
      }
      if (brokers !== undefined && m["bootstrapServers"] !== brokers) {
        add(`${tid} bootstrapServers "${m["bootstrapServers"] ?? ""}" differ from the ${PUBSUB} component's brokers "${brokers}"`);
      }
      for (const key of Object.keys(m)) {
        if (SECRET_NAME.test(key) || key === "username") add(`${tid} metadata ${key} is inline; credentials go in a TriggerAuthentication`);
      }
      if (pubsubAuthenticates && !t.authenticationRef?.name) add(`${tid} has no authenticationRef, but the ${PUBSUB} component authenticates`);
      if (t.authenticationRef?.name && (t.authenticationRef.kind ?? "TriggerAuthentication") === "TriggerAuthentication" && !triggerAuths.has(t.authenticationRef.name)) {
        add(`${tid} authenticationRef names no TriggerAuthentication "${t.authenticationRef.name}"`);
      }
      const topic = m["topic"];
      if (!topic) {
        add(`${tid} names no topic (a new consumer group has no committed topics, so it would never wake)`);
        return;
      }
      topics.push(topic);
      if (!TOPICS.has(topic)) add(`${tid} names topic "${topic}", which is not in allTopics()`);
      else if (kafkas.length > 0 && !kafkaTopics.some((k) => topicOf(k) === topic)) add(`${tid} names topic "${topic}", which has no KafkaTopic`);
    });

    if ((CONSUMERS as readonly string[]).includes(name)) {
      const expected = consumedTopics(name as ServiceName);
      if (!sameSet(topics, expected)) add(`${id}: triggers watch ${list(topics)} but ${name} consumes ${list(expected)}`);
    }
    const max = s.spec?.maxReplicaCount;
    const partitions = topics.map((t) => TOPICS.get(t)?.partitions).filter((p): p is number => p !== undefined);
    if (max === undefined) add(`${id}: maxReplicaCount must be set (≤ the partitions of its topics)`);
    else if (partitions.length > 0 && max > Math.min(...partitions)) {
      add(`${id}: maxReplicaCount ${max} exceeds the ${Math.min(...partitions)} partitions of its topics ${list(topics)}`);
    }
  }

  // ------------------------------------------------ Strimzi: every topic, as the catalog says
  if (kafkas.length > 0) {
    const clusters = new Set(kafkas.map((k) => k.metadata.name));
    for (const spec of allTopics()) {
      const topic = kafkaTopics.find((k) => topicOf(k) === spec.name);
      if (!topic) {
        add(`KafkaTopic for "${spec.name}" is missing (every topic of allTopics() is created explicitly)`);
        continue;
      }
      const id = `KafkaTopic/${topic.metadata.name}`;
      if (topic.spec?.partitions !== spec.partitions) add(`${id}: partitions ${String(topic.spec?.partitions)}, the catalog says ${spec.partitions}`);
      const retention = topic.spec?.config?.["retention.ms"];
      if (spec.retentionMs !== undefined && Number(retention) !== spec.retentionMs) {
        add(`${id}: retention.ms ${String(retention)}, the catalog says ${spec.retentionMs}`);
      }
    }
    for (const topic of kafkaTopics) {
      const id = `KafkaTopic/${topic.metadata.name}`;
      if (!TOPICS.has(topicOf(topic))) add(`${id}: "${topicOf(topic)}" is not a topic of the catalog (allTopics())`);
      const cluster = topic.metadata.labels?.["strimzi.io/cluster"];
      if (!cluster || !clusters.has(cluster)) add(`${id}: label strimzi.io/cluster "${cluster ?? ""}" names no Kafka cluster`);
    }
  }

  return problems;
};
