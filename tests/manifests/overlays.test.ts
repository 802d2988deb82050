import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterReader } from "../../functions/lag-dashboard/cluster.ts";
import { KUBERNETES_NAMESPACE, Service } from "../../shared/catalog/names.ts";
import { KubeApi, kubeAccessInCluster } from "../../shared/kubernetes.ts";
import { crossCheck } from "../../tools/manifests/checks.ts";
import type { K8sObject } from "../../tools/manifests/render.ts";
import { connectManifestServer, serverProblems, type ManifestServer } from "../../tools/manifests/server.ts";
import { loadValidator, TARGETS, validateTarget, type TargetName, type Validation, type Validator } from "../../tools/manifests/validate.ts";

let server: ManifestServer;
let validator: Validator;
const validations = new Map<TargetName, Validation>();
let minikube: Validation;
let cloud: Validation;
let monitored: Validation;

// A control plane of its own (API server, etcd, KEDA's webhooks) on free ports. The first run on a
// machine builds it and the renderer with Go (cached afterwards): up to half an hour on two cores.
beforeAll(async () => {
  server = await connectManifestServer({ reuse: false });
  validator = await loadValidator(server);
  for (const name of Object.keys(TARGETS) as TargetName[]) validations.set(name, await validateTarget(name, validator));
  minikube = validations.get("minikube")!;
  cloud = validations.get("cloud")!;
  monitored = validations.get("minikube+prometheus-operator")!;
}, 3_600_000);

afterAll(async () => {
  await server?.stop();
}, 60_000);

/**
 * Walks a path (dotted, or an array when a key holds a dot): a number indexes an array, `name=x`
 * picks the array item named x.
 */
type Path = string | string[];
const parentOf = (root: unknown, path: Path): { node: Record<string, unknown> | unknown[]; key: string | number } => {
  const segments = typeof path === "string" ? path.split(".") : path;
  let node: unknown = root;
  const step = (current: unknown, segment: string): { container: Record<string, unknown> | unknown[]; key: string | number } => {
    if (Array.isArray(current)) {
      const named = /^name=(.+)$/.exec(segment);
      const index = named ? current.findIndex((item) => (item as { name?: unknown }).name === named[1]) : Number(segment);
      if (index < 0 || Number.isNaN(index)) throw new Error(`${String(path)}: no item ${segment}`);
      return { container: current, key: index };
    }
    if (typeof current !== "object" || current === null) throw new Error(`${String(path)}: ${segment} is not inside an object`);
    return { container: current as Record<string, unknown>, key: segment };
  };
  for (const segment of segments.slice(0, -1)) {
    const { container, key } = step(node, segment);
    node = (container as Record<string | number, unknown>)[key];
  }
  const { container, key } = step(node, segments[segments.length - 1]!);
  return { node: container, key };
};

const setAt = (root: unknown, path: Path, value: unknown): void => {
  const { node, key } = parentOf(root, path);
  (node as Record<string | number, unknown>)[key] = value;
};

const deleteAt = (root: unknown, path: Path): void => {
  const { node, key } = parentOf(root, path);
  if (Array.isArray(node)) node.splice(Number(key), 1);
  else delete node[String(key)];
};

/** A deep copy of an overlay's objects with one of them changed. */
const broken = (objects: readonly K8sObject[], kind: string, name: string, change: (o: K8sObject) => void): K8sObject[] => {
  const copy = structuredClone(objects) as K8sObject[];
  const target = copy.find((o) => o.kind === kind && o.metadata.name === name);
  if (!target) throw new Error(`no ${kind}/${name} in the rendered overlay`);
  change(target);
  return copy;
};

const expectProblem = (objects: readonly K8sObject[], text: string) =>
  expect(crossCheck(objects, validator.context)).toEqual(expect.arrayContaining([expect.stringContaining(text)]));

/** The same objects pass: the breakage, not something else, made the check fail. */
const expectClean = (objects: readonly K8sObject[]) => expect(crossCheck(objects, validator.context)).toEqual([]);

/** What the API server (with KEDA's webhooks) says about the one object `broken` changed. */
const expectRefusal = async (objects: readonly K8sObject[], kind: string, name: string, text: string) => {
  const object = objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  expect(await serverProblems(server.api, [object])).toEqual([expect.stringContaining(text)]);
};

describe("rendered overlays", () => {
  it.each(Object.keys(TARGETS) as TargetName[])("%s is valid: accepted by the API server and KEDA, and the cross-checks", (name) => {
    expect(validations.get(name)?.problems).toEqual([]);
    expect(validations.get(name)?.objects.length).toBeGreaterThan(30);
  });

  it("minikube: Strimzi's Kafka and topics, the ScaledObjects, the components", () => {
    expect(minikube.problems).toEqual([]);
    expect(minikube.objects.map((o) => o.kind)).toEqual(expect.arrayContaining(["Kafka", "KafkaNodePool", "KafkaTopic", "ScaledObject", "Component"]));
  });

  it("cloud: KEDA's TriggerAuthentication, no Kafka of its own", () => {
    expect(cloud.objects.map((o) => o.kind)).toContain("TriggerAuthentication");
    expect(cloud.objects.map((o) => o.kind)).not.toContain("Kafka");
  });

  it("keeps the state store to the apps that claim effects with ctx.once", () => {
    expect(validator.context.componentUsers["statestore"]).toEqual([Service.NotificationService]);
  });
});

describe("the API server and KEDA's admission refuse what they would refuse in a cluster", () => {
  it("a built-in object that breaks the Kubernetes schema", async () => {
    const objects = broken(minikube.objects, "Deployment", "task-api", (d) => setAt(d, "spec.template.spec.containers.0.ports.0.containerPort", "eighty"));
    await expectRefusal(objects, "Deployment", "task-api", "Deployment/task-api: server: ");
    await expectRefusal(objects, "Deployment", "task-api", "containerPort");
  });

  it("a built-in object the schema allows but the API server's validation does not", async () => {
    const objects = broken(minikube.objects, "Service", "audit-service", (s) => setAt(s, "spec.ports.0.port", 70000));
    await expectRefusal(objects, "Service", "audit-service", "Service/audit-service: server: ");
    await expectRefusal(objects, "Service", "audit-service", "must be between 1 and 65535");
  });

  it("a custom resource that breaks its CRD schema", async () => {
    const objects = broken(minikube.objects, "ScaledObject", "audit-service", (s) => setAt(s, "spec.pollingInterval", "often"));
    await expectRefusal(objects, "ScaledObject", "audit-service", "ScaledObject/audit-service: server: ");
    await expectRefusal(objects, "ScaledObject", "audit-service", "pollingInterval");
  });

  it("a custom resource with a field its CRD does not declare", async () => {
    const objects = broken(minikube.objects, "KafkaTopic", "reminders", (t) => setAt(t, "spec.partiton", 6));
    await expectRefusal(objects, "KafkaTopic", "reminders", ".spec.partiton: field not declared in schema");
  });

  it("a ScaledObject that breaks a CEL rule of KEDA's CRD", async () => {
    const objects = broken(minikube.objects, "ScaledObject", "notification-service", (s) => setAt(s, "spec.minReplicaCount", 7));
    await expectRefusal(objects, "ScaledObject", "notification-service", "minReplicaCount must be less than or equal to maxReplicaCount");
  });

  it("a ScaledObject KEDA's admission webhook refuses", async () => {
    const objects = broken(minikube.objects, "ScaledObject", "audit-service", (s) => {
      setAt(s, "spec.triggers.0.name", "lag");
      setAt(s, "spec.triggers.1.name", "lag");
    });
    await expectRefusal(
      objects,
      "ScaledObject",
      "audit-service",
      'admission webhook "vscaledobject.kb.io" denied the request: triggerName "lag" is defined multiple times',
    );
  });
});

describe("each check fails on a manifest broken in that one way", () => {
  it("an app-id that differs from the Deployment name", () => {
    const objects = broken(minikube.objects, "Deployment", "notification-service", (d) =>
      setAt(d, ["spec", "template", "metadata", "annotations", "dapr.io/app-id"], "notifier"),
    );
    expectProblem(objects, 'Deployment/notification-service: dapr.io/app-id "notifier" differs from the Deployment name');
  });

  it("a ScaledObject aimed at another Deployment", () => {
    const objects = broken(minikube.objects, "ScaledObject", "recurring-task-service", (s) => setAt(s, "spec.scaleTargetRef.name", "notification-service"));
    expectProblem(objects, 'ScaledObject/recurring-task-service: scaleTargetRef.name "notification-service" differs from the ScaledObject name');
  });

  it("a trigger whose consumer group is not the app-id", () => {
    const objects = broken(minikube.objects, "ScaledObject", "audit-service", (s) => setAt(s, "spec.triggers.1.metadata.consumerGroup", "audit"));
    expectProblem(objects, 'ScaledObject/audit-service: trigger 1 consumerGroup "audit" differs from the app-id "audit-service"');
  });

  it("a trigger on a topic the catalog does not have", () => {
    const objects = broken(cloud.objects, "ScaledObject", "notification-service", (s) => setAt(s, "spec.triggers.0.metadata.topic", "reminder"));
    expectProblem(objects, 'ScaledObject/notification-service: trigger 0 names topic "reminder", which is not in allTopics()');
  });

  it("a trigger on a topic with no KafkaTopic", () => {
    const objects = minikube.objects.filter((o) => !(o.kind === "KafkaTopic" && o.metadata.name === "reminders"));
    expectProblem(objects, 'KafkaTopic for "reminders" is missing');
    expectProblem(objects, 'ScaledObject/notification-service: trigger 0 names topic "reminders", which has no KafkaTopic');
  });

  it("a trigger with no topic", () => {
    const objects = broken(minikube.objects, "ScaledObject", "audit-service", (s) => deleteAt(s, "spec.triggers.2.metadata.topic"));
    expectProblem(objects, "ScaledObject/audit-service: trigger 2 names no topic");
  });

  it("triggers that miss a topic the consumer reads", () => {
    const objects = broken(minikube.objects, "ScaledObject", "audit-service", (s) => deleteAt(s, "spec.triggers.1"));
    expectProblem(
      objects,
      "ScaledObject/audit-service: triggers watch [task-events, task-updates] but audit-service consumes [task-events, reminders, task-updates]",
    );
  });

  it("a KafkaTopic whose partitions or retention differ from the catalog", () => {
    const objects = broken(minikube.objects, "KafkaTopic", "task-updates", (t) => {
      setAt(t, "spec.partitions", 3);
      setAt(t, ["spec", "config", "retention.ms"], 1000);
    });
    expectProblem(objects, "KafkaTopic/task-updates: partitions 3, the catalog says 6");
    expectProblem(objects, "KafkaTopic/task-updates: retention.ms 1000, the catalog says 86400000");
  });

  it("more replicas than partitions", () => {
    const objects = broken(minikube.objects, "ScaledObject", "notification-service", (s) => setAt(s, "spec.maxReplicaCount", 12));
    expectProblem(objects, "ScaledObject/notification-service: maxReplicaCount 12 exceeds the 6 partitions of its topics [reminders]");
  });

  it("a trigger that resets to the latest offset", () => {
    const objects = broken(minikube.objects, "ScaledObject", "recurring-task-service", (s) => setAt(s, "spec.triggers.0.metadata.offsetResetPolicy", "latest"));
    expectProblem(objects, 'ScaledObject/recurring-task-service: trigger 0 offsetResetPolicy "latest" must be "earliest"');
  });

  it("a pub/sub component that starts new groups at the newest offset", () => {
    const objects = broken(cloud.objects, "Component", "pubsub", (c) => setAt(c, "spec.metadata.name=initialOffset.value", "newest"));
    expectProblem(objects, 'Component/pubsub: initialOffset must be "oldest"');
  });

  it("a trigger measuring another cluster than the pub/sub component's", () => {
    const objects = broken(minikube.objects, "ScaledObject", "notification-service", (s) =>
      setAt(s, "spec.triggers.0.metadata.bootstrapServers", "localhost:9092"),
    );
    expectProblem(objects, `ScaledObject/notification-service: trigger 0 bootstrapServers "localhost:9092" differ from the pubsub component's brokers`);
  });

  it("a cloud trigger without credentials", () => {
    const objects = broken(cloud.objects, "ScaledObject", "audit-service", (s) => deleteAt(s, "spec.triggers.2.authenticationRef"));
    expectProblem(objects, "ScaledObject/audit-service: trigger 2 has no authenticationRef, but the pubsub component authenticates");
  });

  it("a Secret in the manifests", () => {
    const secret: K8sObject = { apiVersion: "v1", kind: "Secret", metadata: { name: "cosmos", namespace: "taskapp" }, stringData: { key: "x" } };
    expectProblem([...cloud.objects, secret], "Secret/cosmos: Secrets are created in the cluster");
  });

  it("a credential written into a component", () => {
    const objects = broken(cloud.objects, "Component", "pubsub", (c) =>
      setAt(c, "spec.metadata.name=saslPassword", { name: "saslPassword", value: "hunter2" }),
    );
    expectProblem(objects, "Component/pubsub: metadata saslPassword is a literal value; use secretKeyRef");
  });

  it("a credential written into a container's environment", () => {
    const objects = broken(minikube.objects, "Deployment", "audit-service", (d) =>
      setAt(d, "spec.template.spec.containers.0.env.name=COSMOS_KEY", { name: "COSMOS_KEY", value: "secret" }),
    );
    expectProblem(objects, "Deployment/audit-service: env COSMOS_KEY is a literal value");
  });

  it("a component scoped to an app that does not use it", () => {
    const objects = broken(minikube.objects, "Component", "statestore", (c) => setAt(c, "scopes.1", Service.AuditService));
    expectProblem(objects, "Component/statestore: scopes [notification-service, audit-service] differ from the apps that use it [notification-service]");
  });

  it("a consumer with a fixed replica count", () => {
    const objects = broken(minikube.objects, "Deployment", "audit-service", (d) => setAt(d, "spec.replicas", 2));
    expectProblem(objects, "Deployment/audit-service: sets replicas (2); KEDA owns a consumer's replica count");
  });

  it("a ScaledObject for task-api", () => {
    const scaler = structuredClone(minikube.objects.find((o) => o.kind === "ScaledObject" && o.metadata.name === "notification-service")) as K8sObject & {
      spec: { scaleTargetRef: { name: string } };
    };
    scaler.metadata.name = Service.TaskApi;
    scaler.spec.scaleTargetRef.name = Service.TaskApi;
    expectProblem([...minikube.objects, scaler], "task-api is always on and must not be scaled by KEDA");
  });

  it("unbounded event delivery retries, and no circuit breaker", () => {
    const objects = broken(minikube.objects, "Resiliency", "resiliency", (r) => {
      setAt(r, "spec.policies.retries.eventDelivery.maxRetries", -1);
      deleteAt(r, "spec.targets.components.pubsub.outbound.circuitBreaker");
    });
    expectProblem(objects, "Resiliency/resiliency: pubsub inbound needs a bounded retry");
    expectProblem(objects, "Resiliency/resiliency: pubsub outbound needs a circuit breaker");
  });

  // The remaining checks, one breakage each: [what, overlay, kind, name, change, expected problem].
  const more: [string, "minikube" | "cloud", string, string, (o: K8sObject) => void, string][] = [
    [
      "a pod without runAsNonRoot",
      "minikube",
      "Deployment",
      "task-api",
      (d) => deleteAt(d, "spec.template.spec.securityContext.runAsNonRoot"),
      "Deployment/task-api: pod must set runAsNonRoot: true",
    ],
    [
      "a writable root filesystem",
      "cloud",
      "Deployment",
      "notification-service",
      (d) => setAt(d, "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", false),
      "Deployment/notification-service: container must set readOnlyRootFilesystem",
    ],
    [
      "a liveness probe elsewhere than /healthz",
      "minikube",
      "Deployment",
      "recurring-task-service",
      (d) => setAt(d, "spec.template.spec.containers.0.livenessProbe.httpGet.path", "/"),
      'Deployment/recurring-task-service: livenessProbe must GET /healthz on port "app"',
    ],
    [
      "an app listening on loopback",
      "minikube",
      "Deployment",
      "audit-service",
      (d) => setAt(d, "spec.template.spec.containers.0.env.name=APP_HOST.value", "127.0.0.1"),
      "Deployment/audit-service: APP_HOST must be 0.0.0.0",
    ],
    [
      "an app-port that is not the container's",
      "minikube",
      "Deployment",
      "task-api",
      (d) => setAt(d, ["spec", "template", "metadata", "annotations", "dapr.io/app-port"], "8080"),
      'Deployment/task-api: dapr.io/app-port "8080" differs from the app port 3000',
    ],
    [
      "a sidecar configuration that does not exist",
      "cloud",
      "Deployment",
      "task-api",
      (d) => setAt(d, ["spec", "template", "metadata", "annotations", "dapr.io/config"], "tracing"),
      'Deployment/task-api: dapr.io/config "tracing" names no Dapr Configuration',
    ],
    [
      "a Deployment renamed away",
      "minikube",
      "Deployment",
      "recurring-task-service",
      (d) => setAt(d, "metadata.name", "recurring"),
      "Deployment/recurring-task-service is missing",
    ],
    [
      "a shared literal consumer group on the pub/sub component",
      "minikube",
      "Component",
      "pubsub",
      (c) => setAt(c, "spec.metadata.5", { name: "consumerGroup", value: "taskapp" }),
      'Component/pubsub: consumerGroup "taskapp" must be unset or {appID}',
    ],
    [
      "retries that drift from the local stack's",
      "minikube",
      "Resiliency",
      "resiliency",
      (r) => setAt(r, "spec.policies.retries.eventPublish.maxRetries", 5),
      "Resiliency/resiliency: retry policy eventPublish differs from dapr/local/resources/resiliency.yaml",
    ],
    [
      "a consumer that never scales to zero",
      "minikube",
      "ScaledObject",
      "audit-service",
      (s) => setAt(s, "spec.minReplicaCount", 1),
      "ScaledObject/audit-service: minReplicaCount must be 0",
    ],
    [
      "a password inline in a trigger",
      "cloud",
      "ScaledObject",
      "notification-service",
      (s) => setAt(s, "spec.triggers.0.metadata.password", "hunter2"),
      "ScaledObject/notification-service: trigger 0 metadata password is inline",
    ],
    [
      "a trigger pointing at a missing TriggerAuthentication",
      "cloud",
      "ScaledObject",
      "recurring-task-service",
      (s) => setAt(s, "spec.triggers.0.authenticationRef.name", "kafka-sasl"),
      'trigger 0 authenticationRef names no TriggerAuthentication "kafka-sasl"',
    ],
    [
      "a KafkaTopic of another Kafka cluster",
      "minikube",
      "KafkaTopic",
      "task-events",
      (t) => setAt(t, ["metadata", "labels", "strimzi.io/cluster"], "other"),
      'KafkaTopic/task-events: label strimzi.io/cluster "other" names no Kafka cluster',
    ],
    [
      "a KafkaTopic the catalog does not know",
      "minikube",
      "KafkaTopic",
      "task-events",
      (t) => setAt(t, "spec.topicName", "task-events-v2"),
      'KafkaTopic/task-events: "task-events-v2" is not a topic of the catalog',
    ],
  ];
  it.each(more)("%s", (_what, overlay, kind, name, change, expected) => {
    expectProblem(broken(overlay === "minikube" ? minikube.objects : cloud.objects, kind, name, change), expected);
  });

  it("an access-control policy that lets another app call task-api", () => {
    const objects = broken(cloud.objects, "Configuration", "taskapp", (c) =>
      setAt(c, "spec.accessControl.policies.2", { appId: Service.AuditService, defaultAction: "allow", trustDomain: "public", namespace: "taskapp" }),
    );
    expectProblem(objects, "Configuration/taskapp: accessControl must deny by default and allow only [recurring-task-service, notification-service]");
  });
});

describe("the API server validates the Prometheus Operator's objects with their CRDs", () => {
  it("a PodMonitor that breaks its CRD schema", async () => {
    const objects = broken(monitored.objects, "PodMonitor", "taskapp", (m) => setAt(m, "spec.podMetricsEndpoints.0.interval", "often"));
    await expectRefusal(objects, "PodMonitor", "taskapp", "PodMonitor/taskapp: server: ");
    await expectRefusal(objects, "PodMonitor", "taskapp", "interval");
  });
});

describe("hardening: each check fails on a manifest broken in that one way", () => {
  const annotation = (key: string) => ["spec", "template", "metadata", "annotations", key];
  // [what, target, kind, name, change, expected problem]
  const cases: [string, TargetName, string, string, (o: K8sObject) => void, string][] = [
    // Dapr tokens, both directions.
    [
      "a function without the sidecar → app token",
      "minikube",
      "Deployment",
      "notification-service",
      (d) => deleteAt(d, annotation("dapr.io/app-token-secret")),
      "Deployment/notification-service: dapr.io/app-token-secret must be notification-service-app-token",
    ],
    [
      "a function sharing another's Dapr API token",
      "cloud",
      "Deployment",
      "audit-service",
      (d) => setAt(d, annotation("dapr.io/api-token-secret"), "task-api-dapr-api-token"),
      "Deployment/audit-service: dapr.io/api-token-secret must be audit-service-dapr-api-token",
    ],
    [
      "APP_API_TOKEN from another key than the sidecar's",
      "minikube",
      "Deployment",
      "task-api",
      (d) => setAt(d, "spec.template.spec.containers.0.env.name=APP_API_TOKEN.valueFrom.secretKeyRef.key", "app-token"),
      "Deployment/task-api: env APP_API_TOKEN must come from Secret task-api-app-token, key token",
    ],
    [
      "an app that does not send the Dapr API token",
      "minikube",
      "Deployment",
      "lag-dashboard",
      (d) => deleteAt(d, "spec.template.spec.containers.0.env.name=DAPR_API_TOKEN"),
      "Deployment/lag-dashboard: env DAPR_API_TOKEN must come from Secret lag-dashboard-dapr-api-token, key token",
    ],
    [
      "an annotation the 1.18.2 injector does not know (silently ignored)",
      "minikube",
      "Deployment",
      "audit-service",
      (d) => setAt(d, annotation("dapr.io/sidecar-drop-all-capabilities"), "true"),
      "Deployment/audit-service: annotation dapr.io/sidecar-drop-all-capabilities is not one Dapr 1.18.2's sidecar injector reads",
    ],
    // Service accounts and RBAC.
    [
      "a token mounted into a function that never calls the API server",
      "minikube",
      "Deployment",
      "audit-service",
      (d) => setAt(d, "spec.template.spec.automountServiceAccountToken", true),
      "Deployment/audit-service: automountServiceAccountToken must be false",
    ],
    [
      "the dashboard without its token",
      "cloud",
      "Deployment",
      "lag-dashboard",
      (d) => setAt(d, "spec.template.spec.automountServiceAccountToken", false),
      "Deployment/lag-dashboard: automountServiceAccountToken must be true",
    ],
    [
      "a function on the default service account",
      "minikube",
      "Deployment",
      "recurring-task-service",
      (d) => deleteAt(d, "spec.template.spec.serviceAccountName"),
      'Deployment/recurring-task-service: serviceAccountName "" must be its own',
    ],
    [
      "a Role that lets the dashboard write",
      "minikube",
      "Role",
      "lag-dashboard",
      (r) => setAt(r, "rules.1.verbs", ["get", "list", "watch", "patch"]),
      "Role/lag-dashboard: grants [patch]; lag-dashboard only reads",
    ],
    [
      "a Role that lets the dashboard read Secrets",
      "minikube",
      "Role",
      "lag-dashboard",
      (r) => setAt(r, "rules.3", { apiGroups: [""], resources: ["secrets"], verbs: ["get"] }),
      "Role/lag-dashboard: grants secrets, which lag-dashboard does not read",
    ],
    [
      "a Role without the HPAs the dashboard reads",
      "cloud",
      "Role",
      "lag-dashboard",
      (r) => deleteAt(r, "rules.2"),
      "ServiceAccount/lag-dashboard: may not get, list and watch autoscaling/horizontalpodautoscalers",
    ],
    [
      "a RoleBinding that gives task-api the dashboard's rights",
      "minikube",
      "RoleBinding",
      "lag-dashboard",
      (b) => setAt(b, "subjects.1", { kind: "ServiceAccount", name: "task-api" }),
      "ServiceAccount/task-api: bound to [Role/lag-dashboard], but it reads nothing from the API server",
    ],
    // Ports and listeners.
    [
      "task-api's Service on the Dapr-facing port",
      "minikube",
      "Service",
      "task-api",
      (s) => setAt(s, "spec.ports.0.targetPort", "app"),
      'Service/task-api: targets [app], must target only port "public"',
    ],
    [
      "task-api's public port differing from the catalog",
      "cloud",
      "Deployment",
      "task-api",
      (d) => setAt(d, "spec.template.spec.containers.0.env.name=PUBLIC_PORT.value", "9090"),
      "Deployment/task-api: PUBLIC_PORT differs from the public port 8080",
    ],
    [
      "a public port on a consumer",
      "minikube",
      "Deployment",
      "audit-service",
      (d) => setAt(d, "spec.template.spec.containers.0.ports.1", { name: "public", containerPort: 8080 }),
      "Deployment/audit-service: only task-api and lag-dashboard have a public port",
    ],
    [
      "an image that is not the function's build",
      "cloud",
      "Deployment",
      "notification-service",
      (d) => setAt(d, "spec.template.spec.containers.0.image", "taskapp/notifier:0.1.0"),
      'Deployment/notification-service: image "taskapp/notifier:0.1.0" is not taskapp/notification-service',
    ],
    // Credentials per service.
    [
      "a function reading another's Cosmos DB credentials",
      "minikube",
      "Deployment",
      "audit-service",
      (d) => setAt(d, "spec.template.spec.containers.0.env.name=COSMOS_KEY.valueFrom.secretKeyRef.name", "task-api-cosmos"),
      "Secret task-api-cosmos is read by [audit-service, task-api]",
    ],
    [
      "the state store on a shared Cosmos DB key",
      "cloud",
      "Component",
      "statestore",
      (c) => setAt(c, "spec.metadata.name=masterKey.secretKeyRef.name", "cosmos"),
      "Component/statestore: metadata masterKey reads Secret cosmos; only notification-service uses it",
    ],
    // NetworkPolicies.
    [
      "a function without a NetworkPolicy",
      "minikube",
      "NetworkPolicy",
      "recurring-task-service",
      (p) => setAt(p, ["spec", "podSelector", "matchLabels", "app.kubernetes.io/name"], "other"),
      "NetworkPolicy for recurring-task-service is missing",
    ],
    [
      "a rule admitting every source",
      "cloud",
      "NetworkPolicy",
      "audit-service",
      (p) => deleteAt(p, "spec.ingress.0.from"),
      "NetworkPolicy/audit-service: rule 0 admits every source",
    ],
    [
      "a rule admitting every port",
      "minikube",
      "NetworkPolicy",
      "notification-service",
      (p) => deleteAt(p, "spec.ingress.0.ports"),
      "NetworkPolicy/notification-service: rule 0 admits every port",
    ],
    [
      "a consumer's sidecar that may invoke task-api without being allowed to",
      "minikube",
      "NetworkPolicy",
      "task-api",
      (p) => setAt(p, "spec.ingress.1.from.0.podSelector.matchExpressions.0.values", ["recurring-task-service", "notification-service", "audit-service"]),
      "NetworkPolicy/task-api: rule 1 lets pods [recurring-task-service, notification-service, audit-service] reach [dapr-internal] of task-api",
    ],
    [
      "the Ingress controller reaching the Dapr-facing port",
      "cloud",
      "NetworkPolicy",
      "task-api",
      (p) => setAt(p, "spec.ingress.0.ports.0.port", "app"),
      "NetworkPolicy/task-api: rule 0 lets ingress-controller reach [app] of task-api",
    ],
    [
      "the Ingress controller reaching a consumer",
      "minikube",
      "NetworkPolicy",
      "audit-service",
      (p) =>
        setAt(p, "spec.ingress.1", {
          from: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } },
              podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx" } },
            },
          ],
          ports: [{ port: "app", protocol: "TCP" }],
        }),
      "NetworkPolicy/audit-service: rule 1 lets ingress-controller reach [app] of audit-service",
    ],
    [
      "Prometheus shut out of daprd's metrics",
      "minikube",
      "NetworkPolicy",
      "lag-dashboard",
      (p) => deleteAt(p, "spec.ingress.0.ports.1"),
      "NetworkPolicy for lag-dashboard: Prometheus must reach ports app and dapr-metrics",
    ],
    [
      "task-api unreachable for its internal callers",
      "cloud",
      "NetworkPolicy",
      "task-api",
      (p) => deleteAt(p, "spec.ingress.1"),
      "NetworkPolicy for task-api: daprd's internal port must admit exactly the sidecars of [recurring-task-service, notification-service]",
    ],
    // Topic grants on the pub/sub component.
    [
      "an app missing from publishingScopes (so it may publish anywhere)",
      "minikube",
      "Component",
      "pubsub",
      (c) =>
        setAt(
          c,
          "spec.metadata.name=publishingScopes.value",
          "task-api=task-events,reminders,task-updates;recurring-task-service=recurring-task-service.dlq;notification-service=task-updates,notification-service.dlq;audit-service=audit-service.dlq",
        ),
      "Component/pubsub: publishingScopes does not list lag-dashboard, so it may use every topic",
    ],
    [
      "a subscription grant the catalog does not make",
      "cloud",
      "Component",
      "pubsub",
      (c) =>
        setAt(
          c,
          "spec.metadata.name=subscriptionScopes.value",
          "task-api=task-events;recurring-task-service=task-events;notification-service=reminders;audit-service=task-events,reminders,task-updates;lag-dashboard=recurring-task-service.dlq,notification-service.dlq,audit-service.dlq",
        ),
      "Component/pubsub: subscriptionScopes gives task-api [task-events], the catalog []",
    ],
    [
      "no subscription scopes at all",
      "minikube",
      "Component",
      "pubsub",
      (c) => deleteAt(c, "spec.metadata.name=subscriptionScopes"),
      "Component/pubsub: subscriptionScopes is missing",
    ],
    [
      "a topic outside the catalog allowed",
      "cloud",
      "Component",
      "pubsub",
      (c) =>
        setAt(
          c,
          "spec.metadata.name=allowedTopics.value",
          "task-events,reminders,task-updates,recurring-task-service.dlq,notification-service.dlq,audit-service.dlq,lag-dashboard.dlq,scratch",
        ),
      "Component/pubsub: allowedTopics [task-events, reminders, task-updates, recurring-task-service.dlq, notification-service.dlq, audit-service.dlq, lag-dashboard.dlq, scratch] differ from the catalog's topics",
    ],
    // One set of Kafka settings for Dapr, KEDA and the dashboard.
    [
      "KEDA's mechanism disagreeing with the pub/sub component's",
      "confluent",
      "ConfigMap",
      "kafka-auth",
      (c) => setAt(c, "data.sasl", "scram_sha256"),
      'ConfigMap/kafka-auth: sasl "scram_sha256", but the pubsub component\'s saslMechanism PLAIN is KEDA\'s "plaintext"',
    ],
    [
      "a saslMechanism Dapr's Kafka component does not know (SCRAM-SHA-256: Dapr would speak PLAIN)",
      "redpanda",
      "Component",
      "pubsub",
      (c) => setAt(c, "spec.metadata.name=saslMechanism.value", "SCRAM-SHA-256"),
      'Component/pubsub: saslMechanism "SCRAM-SHA-256" is none of [PLAIN, SHA-256, SHA-512]',
    ],
    [
      "TLS off for KEDA while Dapr uses it",
      "cloud",
      "ConfigMap",
      "kafka-auth",
      (c) => setAt(c, "data.tls", "disable"),
      'ConfigMap/kafka-auth: tls "disable", but the pubsub component\'s TLS is on ("enable")',
    ],
    [
      "KEDA's credentials from another Secret",
      "confluent",
      "TriggerAuthentication",
      "kafka",
      (t) => setAt(t, "spec.secretTargetRef.0.name", "confluent-keys"),
      "TriggerAuthentication/kafka: username from confluent-keys/username, the pubsub component's from kafka-credentials/username",
    ],
    [
      "KEDA's mechanism from a Secret instead of kafka-auth",
      "cloud",
      "TriggerAuthentication",
      "kafka",
      (t) => deleteAt(t, "spec.configMapTargetRef.0"),
      "TriggerAuthentication/kafka: sasl must come from ConfigMap kafka-auth, key sasl",
    ],
    [
      "the dashboard without TLS settings",
      "confluent",
      "Deployment",
      "lag-dashboard",
      (d) => deleteAt(d, "spec.template.spec.containers.0.env.name=KAFKA_TLS"),
      "Deployment/lag-dashboard: KAFKA_TLS must come from ConfigMap kafka-auth, key tls",
    ],
    [
      "the dashboard on another cluster",
      "minikube",
      "Deployment",
      "lag-dashboard",
      (d) => setAt(d, "spec.template.spec.containers.0.env.name=KAFKA_BROKERS.value", "localhost:9092"),
      'Deployment/lag-dashboard: KAFKA_BROKERS "localhost:9092" differs from the pubsub component\'s brokers',
    ],
    [
      "SASL settings on the dashboard of a cluster without SASL",
      "minikube",
      "Deployment",
      "lag-dashboard",
      (d) => setAt(d, "spec.template.spec.containers.0.env.9", { name: "KAFKA_SASL_MECHANISM", value: "plain" }),
      "Deployment/lag-dashboard: sets KAFKA_SASL_MECHANISM, but the pubsub component uses no SASL",
    ],
    // The dead-letter tool's Job.
    [
      "the dead-letter Job under an app-id the pub/sub component does not grant",
      "redpanda+dead-letter-tool",
      "Job",
      "dead-letter-tool",
      (j) => setAt(j, ["spec", "template", "metadata", "annotations", "dapr.io/app-id"], "dlq"),
      'Job/dead-letter-tool: dapr.io/app-id "dlq" is not dead-letter-tool',
    ],
    [
      "the dead-letter Job's reader on another cluster",
      "minikube+dead-letter-tool",
      "Job",
      "dead-letter-tool",
      (j) => setAt(j, "spec.template.spec.containers.0.env.name=KAFKA_BROKERS.value", "localhost:9092"),
      'Job/dead-letter-tool: KAFKA_BROKERS "localhost:9092" differs from the pubsub component\'s brokers',
    ],
    [
      "the dead-letter Job without the SASL password of the pub/sub component",
      "redpanda+dead-letter-tool",
      "Job",
      "dead-letter-tool",
      (j) => deleteAt(j, "spec.template.spec.containers.0.env.name=KAFKA_SASL_PASSWORD"),
      "Job/dead-letter-tool: KAFKA_SASL_PASSWORD must come from the pubsub component's Secret (kafka-credentials/password)",
    ],
    [
      "the dead-letter Job reading another function's app token",
      "minikube+dead-letter-tool",
      "Job",
      "dead-letter-tool",
      (j) => setAt(j, "spec.template.spec.containers.0.env.name=APP_API_TOKEN.valueFrom.secretKeyRef.name", "lag-dashboard-app-token"),
      "Job/dead-letter-tool: env APP_API_TOKEN must come from Secret dead-letter-tool-app-token",
    ],
    [
      "the dead-letter Job retried unseen",
      "minikube+dead-letter-tool",
      "Job",
      "dead-letter-tool",
      (j) => setAt(j, "spec.backoffLimit", 3),
      "Job/dead-letter-tool: runs once (restartPolicy Never, backoffLimit 0)",
    ],
    // Monitoring.
    [
      "Strimzi's exporter running unscraped",
      "minikube",
      "ConfigMap",
      "taskapp-prometheus-scrape",
      (c) =>
        setAt(
          c,
          ["data", "prometheus-scrape.yaml"],
          String((c as { data?: Record<string, string> }).data?.["prometheus-scrape.yaml"]).replace("regex: tcp-prometheus", "regex: metrics"),
        ),
      "no scrape job taskapp-kafka-exporter keeping port tcp-prometheus (Strimzi kafka-exporter)",
    ],
    [
      "an alert on a metric nothing exports",
      "cloud",
      "ConfigMap",
      "taskapp-prometheus-rules",
      (c) =>
        setAt(
          c,
          ["data", "prometheus-rules.yaml"],
          String((c as { data?: Record<string, string> }).data?.["prometheus-rules.yaml"]).replace(
            "max by (service) (taskapp_deadletter_depth)",
            "taskapp_deadletter_backlog",
          ),
        ),
      "taskapp-prometheus-rules: rule TaskappDeadLettersPending reads taskapp_deadletter_backlog, which no exporter serves",
    ],
    [
      "a PrometheusRule that drifted from the rules file",
      "minikube+prometheus-operator",
      "PrometheusRule",
      "taskapp",
      (p) => setAt(p, "spec.groups.0.rules.0.for", "1h"),
      "PrometheusRule/taskapp: its groups differ from deploy/monitoring/prometheus-rules.yaml",
    ],
    [
      "the Prometheus Operator missing daprd's endpoint",
      "minikube+prometheus-operator",
      "PodMonitor",
      "taskapp",
      (m) => deleteAt(m, "spec.podMetricsEndpoints.1"),
      "Prometheus Operator: no PodMonitor or ServiceMonitor endpoint on port dapr-metrics (daprd)",
    ],
  ];
  it.each(cases)("%s", (_what, target, kind, name, change, expected) => {
    const objects = validations.get(target)!.objects;
    expectClean(objects);
    expectProblem(broken(objects, kind, name, change), expected);
  });

  it("a cloud cluster without the dashboard leaves three panels without a source", () => {
    const objects = cloud.objects.filter((o) => !(o.kind === "Deployment" && o.metadata.name === Service.LagDashboard));
    expectProblem(
      objects,
      'panel "Consumer lag (events)" reads kafka_consumergroup_lag, which only [lag-dashboard /metrics, Strimzi kafka-exporter] serve, not run or not scraped here',
    );
    expectProblem(objects, 'panel "Replicas KEDA would choose" reads taskapp_keda_desired_replicas');
    expectProblem(objects, 'panel "Dead-lettered events" reads taskapp_deadletter_records');
  });

  it("in Minikube, Strimzi's exporter alone still feeds the lag panel", () => {
    const objects = minikube.objects.filter((o) => !(o.kind === "Deployment" && o.metadata.name === Service.LagDashboard));
    const problems = crossCheck(objects, validator.context);
    expect(problems.filter((p) => p.includes("Consumer lag"))).toEqual([]);
    expect(problems).toEqual(expect.arrayContaining([expect.stringContaining('panel "Replicas KEDA would choose"')]));
  });
});

// Last in this file: it stores objects on this test's own API server for real.
describe("lag-dashboard in a cluster: its service account reads what the dashboard reads, and nothing more", () => {
  it("with the pod's mounted token and CA (in-cluster access), the Role of the manifests is enough to read ScaledObjects, Deployments and HPAs, and refuses a write", async () => {
    const wanted = (o: K8sObject) =>
      ["Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "ScaledObject"].includes(o.kind) &&
      !(o.kind === "Deployment" && o.metadata.name === "redis");
    const objects = minikube.objects.filter(wanted);
    for (const kind of ["Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "ScaledObject"]) {
      await Promise.all(objects.filter((o) => o.kind === kind).map((o) => server.api.apply(o, { fieldManager: "overlays-test" })));
    }
    // What the kubelet mounts into the pod: a token for its service account, and the cluster's CA.
    const request = (await server.api.request("POST", `/api/v1/namespaces/${KUBERNETES_NAMESPACE}/serviceaccounts/${Service.LagDashboard}/token`, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 600 },
    })) as { status: { token: string } };
    const dir = mkdtempSync(join(tmpdir(), "serviceaccount-"));
    writeFileSync(join(dir, "token"), request.status.token);
    writeFileSync(join(dir, "ca.crt"), server.api.access.ca);
    const url = new URL(server.api.access.server);
    const api = new KubeApi(kubeAccessInCluster({ KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }, dir));
    try {
      const reader = new ClusterReader(api, KUBERNETES_NAMESPACE, undefined);
      expect((await reader.scalers()).map((s) => s.name)).toEqual(["audit-service", "notification-service", "recurring-task-service"]);
      const views = await reader.read();
      expect([...views.keys()].sort()).toEqual(["audit-service", "notification-service", "recurring-task-service"]);
      expect(views.get("notification-service")?.deployment).toEqual({ desired: 1, replicas: 0, ready: 0 });
      // Read-only: the same token may not change a Deployment.
      await expect(
        api.request(
          "PATCH",
          `/apis/apps/v1/namespaces/${KUBERNETES_NAMESPACE}/deployments/${Service.AuditService}`,
          { spec: { replicas: 3 } },
          "application/merge-patch+json",
        ),
      ).rejects.toMatchObject({ status: 403 });
      // Nor read anything else, Secrets least of all.
      await expect(api.get(`/api/v1/namespaces/${KUBERNETES_NAMESPACE}/secrets`)).rejects.toMatchObject({ status: 403 });
    } finally {
      api.close();
    }
    // The kubelet rotates the mounted token: the client reads the file again (here at once).
    const rotating = new KubeApi(kubeAccessInCluster({ KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }, dir), { tokenRereadMs: 0 });
    try {
      const scaledObjects = `/apis/keda.sh/v1alpha1/namespaces/${KUBERNETES_NAMESPACE}/scaledobjects`;
      await rotating.get(scaledObjects);
      writeFileSync(join(dir, "token"), "expired-or-revoked");
      await expect(rotating.get(scaledObjects)).rejects.toMatchObject({ status: 401 });
      writeFileSync(join(dir, "token"), request.status.token);
      await rotating.get(scaledObjects);
    } finally {
      rotating.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("in-cluster access says what is missing outside a pod", () => {
    expect(() => kubeAccessInCluster({}, "/nonexistent")).toThrow("KUBERNETES_SERVICE_HOST");
    expect(() => kubeAccessInCluster({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, "/nonexistent")).toThrow(
      "cannot read /nonexistent/token (is automountServiceAccountToken off for this pod?)",
    );
  });
});
