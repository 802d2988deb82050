import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Service } from "../../shared/catalog/names.ts";
import { crossCheck } from "../../tools/manifests/checks.ts";
import type { K8sObject } from "../../tools/manifests/render.ts";
import { connectManifestServer, serverProblems, type ManifestServer } from "../../tools/manifests/server.ts";
import { loadValidator, validateOverlay, type Validation, type Validator } from "../../tools/manifests/validate.ts";

let server: ManifestServer;
let validator: Validator;
let minikube: Validation;
let cloud: Validation;

// A control plane of its own (API server, etcd, KEDA's webhooks) on free ports. The first run on a
// machine builds it and the renderer with Go (cached afterwards): up to half an hour on two cores.
beforeAll(async () => {
  server = await connectManifestServer({ reuse: false });
  validator = await loadValidator(server);
  [minikube, cloud] = await Promise.all([validateOverlay("minikube", validator), validateOverlay("cloud", validator)]);
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

/** What the API server (with KEDA's webhooks) says about the one object `broken` changed. */
const expectRefusal = async (objects: readonly K8sObject[], kind: string, name: string, text: string) => {
  const object = objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  expect(await serverProblems(server.api, [object])).toEqual([expect.stringContaining(text)]);
};

describe("rendered overlays", () => {
  it("minikube is valid: accepted by the API server and KEDA, and the cross-checks", () => {
    expect(minikube.problems).toEqual([]);
    expect(minikube.objects.map((o) => o.kind)).toEqual(expect.arrayContaining(["Kafka", "KafkaNodePool", "KafkaTopic", "ScaledObject", "Component"]));
  });

  it("cloud is valid: accepted by the API server and KEDA, and the cross-checks", () => {
    expect(cloud.problems).toEqual([]);
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
    await expectRefusal(objects, "ScaledObject", "audit-service", 'admission webhook "vscaledobject.kb.io" denied the request: triggerName "lag" is defined multiple times');
  });
});

describe("each check fails on a manifest broken in that one way", () => {
  it("an app-id that differs from the Deployment name", () => {
    const objects = broken(minikube.objects, "Deployment", "notification-service", (d) => setAt(d, ["spec", "template", "metadata", "annotations", "dapr.io/app-id"], "notifier"));
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
    expectProblem(objects, "ScaledObject/audit-service: triggers watch [task-events, task-updates] but audit-service consumes [task-events, reminders, task-updates]");
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
    const objects = broken(minikube.objects, "ScaledObject", "notification-service", (s) => setAt(s, "spec.triggers.0.metadata.bootstrapServers", "localhost:9092"));
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
    const objects = broken(cloud.objects, "Component", "pubsub", (c) => setAt(c, "spec.metadata.name=saslPassword", { name: "saslPassword", value: "hunter2" }));
    expectProblem(objects, "Component/pubsub: metadata saslPassword is a literal value; use secretKeyRef");
  });

  it("a credential written into a container's environment", () => {
    const objects = broken(minikube.objects, "Deployment", "audit-service", (d) => setAt(d, "spec.template.spec.containers.0.env.name=COSMOS_KEY", { name: "COSMOS_KEY", value: "secret" }));
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
    ["a pod without runAsNonRoot", "minikube", "Deployment", "task-api", (d) => deleteAt(d, "spec.template.spec.securityContext.runAsNonRoot"), "Deployment/task-api: pod must set runAsNonRoot: true"],
    ["a writable root filesystem", "cloud", "Deployment", "notification-service", (d) => setAt(d, "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", false), "Deployment/notification-service: container must set readOnlyRootFilesystem"],
    ["a liveness probe elsewhere than /healthz", "minikube", "Deployment", "recurring-task-service", (d) => setAt(d, "spec.template.spec.containers.0.livenessProbe.httpGet.path", "/"), "Deployment/recurring-task-service: livenessProbe must GET /healthz"],
    ["an app listening on loopback", "minikube", "Deployment", "audit-service", (d) => setAt(d, "spec.template.spec.containers.0.env.name=APP_HOST.value", "127.0.0.1"), "Deployment/audit-service: APP_HOST must be 0.0.0.0"],
    ["an app-port that is not the container's", "minikube", "Deployment", "task-api", (d) => setAt(d, ["spec", "template", "metadata", "annotations", "dapr.io/app-port"], "3000"), 'Deployment/task-api: dapr.io/app-port "3000" differs from the http port 8080'],
    ["a sidecar configuration that does not exist", "cloud", "Deployment", "task-api", (d) => setAt(d, ["spec", "template", "metadata", "annotations", "dapr.io/config"], "tracing"), 'Deployment/task-api: dapr.io/config "tracing" names no Dapr Configuration'],
    ["a Deployment renamed away", "minikube", "Deployment", "recurring-task-service", (d) => setAt(d, "metadata.name", "recurring"), "Deployment/recurring-task-service is missing"],
    ["a shared literal consumer group on the pub/sub component", "minikube", "Component", "pubsub", (c) => setAt(c, "spec.metadata.5", { name: "consumerGroup", value: "taskapp" }), 'Component/pubsub: consumerGroup "taskapp" must be unset or {appID}'],
    ["retries that drift from the local stack's", "minikube", "Resiliency", "resiliency", (r) => setAt(r, "spec.policies.retries.eventPublish.maxRetries", 5), "Resiliency/resiliency: retry policy eventPublish differs from dapr/local/resources/resiliency.yaml"],
    ["a consumer that never scales to zero", "minikube", "ScaledObject", "audit-service", (s) => setAt(s, "spec.minReplicaCount", 1), "ScaledObject/audit-service: minReplicaCount must be 0"],
    ["a password inline in a trigger", "cloud", "ScaledObject", "notification-service", (s) => setAt(s, "spec.triggers.0.metadata.password", "hunter2"), "ScaledObject/notification-service: trigger 0 metadata password is inline"],
    ["a trigger pointing at a missing TriggerAuthentication", "cloud", "ScaledObject", "recurring-task-service", (s) => setAt(s, "spec.triggers.0.authenticationRef.name", "kafka-sasl"), 'trigger 0 authenticationRef names no TriggerAuthentication "kafka-sasl"'],
    ["a KafkaTopic of another Kafka cluster", "minikube", "KafkaTopic", "task-events", (t) => setAt(t, ["metadata", "labels", "strimzi.io/cluster"], "other"), 'KafkaTopic/task-events: label strimzi.io/cluster "other" names no Kafka cluster'],
    ["a KafkaTopic the catalog does not know", "minikube", "KafkaTopic", "task-events", (t) => setAt(t, "spec.topicName", "task-events-v2"), 'KafkaTopic/task-events: "task-events-v2" is not a topic of the catalog'],
  ];
  it.each(more)("%s", (_what, overlay, kind, name, change, expected) => {
    expectProblem(broken(overlay === "minikube" ? minikube.objects : cloud.objects, kind, name, change), expected);
  });

  it("an access-control policy that lets another app call task-api", () => {
    const objects = broken(cloud.objects, "Configuration", "taskapp", (c) => setAt(c, "spec.accessControl.policies.2", { appId: Service.AuditService, defaultAction: "allow", trustDomain: "public", namespace: "taskapp" }));
    expectProblem(objects, "Configuration/taskapp: accessControl must deny by default and allow only [recurring-task-service, notification-service]");
  });
});
