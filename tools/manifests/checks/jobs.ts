/**
 * Cross-checks of the Jobs: the dead-letter tool's (deploy/components/dead-letter-tool), when an
 * overlay has it. It is a Dapr app like the functions (app-id, both tokens, its own Secrets) that
 * reads the pub/sub component's cluster with the component's credentials, and runs once.
 */
import { DEAD_LETTER_TOOL, PUBSUB } from "../../../shared/catalog/names.ts";
import { DAPR_INJECTOR_ANNOTATIONS, DAPR_TOKEN_SECRET_KEY } from "../dapr-injector.ts";
import { KAFKA_AUTH_CONFIGMAP } from "./kafka.ts";
import { envOf, metaValue, SECRET_NAME, type Component, type Configuration, type Deployment, type Rendered } from "./model.ts";
import { appTokenSecretOf, daprApiTokenSecretOf } from "./workloads.ts";

/** A Job's pod template has the shape of a Deployment's. */
type Job = Deployment & { spec?: { backoffLimit?: number; template?: { spec?: { restartPolicy?: string } } } };

export const checkJobs = (r: Rendered): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  const jobs = r.of<Job>("Job", "batch");
  for (const job of jobs) {
    const id = `Job/${job.metadata.name}`;
    if (job.metadata.name !== DEAD_LETTER_TOOL) {
      add(`${id}: the only Job is ${DEAD_LETTER_TOOL} (deploy/components/dead-letter-tool)`);
      continue;
    }
    const annotations = job.spec?.template?.metadata?.annotations ?? {};
    const pod = job.spec?.template?.spec;
    const container = pod?.containers?.find((c) => c.name === DEAD_LETTER_TOOL);
    const env = envOf(container);
    if (annotations["dapr.io/enabled"] !== "true") add(`${id}: dapr.io/enabled must be "true" (it reads through its sidecar)`);
    if (annotations["dapr.io/app-id"] !== DEAD_LETTER_TOOL) {
      add(
        `${id}: dapr.io/app-id "${annotations["dapr.io/app-id"] ?? ""}" is not ${DEAD_LETTER_TOOL}, the app the ${PUBSUB} component scopes and grants the dead-letter topics`,
      );
    }
    const config = annotations["dapr.io/config"];
    if (!config || !r.named(r.of<Configuration>("Configuration", "dapr.io"), config))
      add(`${id}: dapr.io/config "${config ?? ""}" names no Dapr Configuration`);
    for (const key of Object.keys(annotations).filter((k) => k.startsWith("dapr.io/"))) {
      if (!DAPR_INJECTOR_ANNOTATIONS.has(key)) add(`${id}: annotation ${key} is not one Dapr 1.18.2's sidecar injector reads (it would be ignored)`);
    }
    if (annotations["dapr.io/app-token-secret"] !== appTokenSecretOf(DEAD_LETTER_TOOL))
      add(`${id}: dapr.io/app-token-secret must be ${appTokenSecretOf(DEAD_LETTER_TOOL)}`);
    if (annotations["dapr.io/api-token-secret"] !== daprApiTokenSecretOf(DEAD_LETTER_TOOL))
      add(`${id}: dapr.io/api-token-secret must be ${daprApiTokenSecretOf(DEAD_LETTER_TOOL)}`);
    if (pod?.restartPolicy !== "Never" || job.spec?.backoffLimit !== 0)
      add(`${id}: runs once (restartPolicy Never, backoffLimit 0): a failed run is read, not retried unseen`);
    if (pod?.securityContext?.runAsNonRoot !== true) add(`${id}: pod must set runAsNonRoot: true`);
    if (!container) {
      add(`${id}: no container named ${DEAD_LETTER_TOOL}`);
      continue;
    }
    if (!/^(.+\/)?taskapp\/dead-letter-tool(:[\w.-]+)?$/.test(container.image ?? ""))
      add(`${id}: image "${container.image ?? ""}" is not taskapp/${DEAD_LETTER_TOOL} (the Dockerfile's FUNCTION=${DEAD_LETTER_TOOL})`);
    if (env.get("DLQ_SIDECAR")?.value !== "pod") add(`${id}: DLQ_SIDECAR must be "pod" (it reads through the pod's sidecar and shuts it down when done)`);
    if (env.get("APP_ID")?.value !== annotations["dapr.io/app-id"])
      add(`${id}: APP_ID "${env.get("APP_ID")?.value ?? ""}" differs from dapr.io/app-id (its consumer group, removed around each run)`);
    if (env.get("APP_PORT")?.value !== annotations["dapr.io/app-port"])
      add(`${id}: APP_PORT differs from dapr.io/app-port "${annotations["dapr.io/app-port"] ?? ""}"`);
    for (const [name, secret] of [
      ["APP_API_TOKEN", appTokenSecretOf(DEAD_LETTER_TOOL)],
      ["DAPR_API_TOKEN", daprApiTokenSecretOf(DEAD_LETTER_TOOL)],
    ] as const) {
      const ref = env.get(name)?.valueFrom?.secretKeyRef;
      if (ref?.name !== secret || ref.key !== DAPR_TOKEN_SECRET_KEY)
        add(`${id}: env ${name} must come from Secret ${secret}, key ${DAPR_TOKEN_SECRET_KEY} (the one its sidecar reads)`);
    }
    for (const e of container.env ?? []) {
      if (SECRET_NAME.test(e.name) && e.value !== undefined) add(`${id}: env ${e.name} is a literal value; take it from a Secret (secretKeyRef)`);
    }

    // Its Kafka reader: the pub/sub component's cluster and, with SASL, its credentials and kafka-auth's settings.
    const pubsub = r.named(r.of<Component>("Component", "dapr.io"), PUBSUB);
    if (!pubsub) continue;
    const brokers = metaValue(pubsub, "brokers");
    if (env.get("KAFKA_BROKERS")?.value !== brokers)
      add(`${id}: KAFKA_BROKERS "${env.get("KAFKA_BROKERS")?.value ?? ""}" differs from the ${PUBSUB} component's brokers "${brokers ?? ""}"`);
    if (metaValue(pubsub, "authType") === "password") {
      for (const [name, field] of [
        ["KAFKA_SASL_USERNAME", "saslUsername"],
        ["KAFKA_SASL_PASSWORD", "saslPassword"],
      ] as const) {
        const want = pubsub.spec?.metadata?.find((m) => m.name === field)?.secretKeyRef;
        const ref = env.get(name)?.valueFrom?.secretKeyRef;
        if (!want || ref?.name !== want.name || ref?.key !== want.key)
          add(`${id}: ${name} must come from the ${PUBSUB} component's Secret (${want?.name ?? "?"}/${want?.key ?? "?"})`);
      }
      for (const [name, key] of [
        ["KAFKA_SASL_MECHANISM", "sasl"],
        ["KAFKA_TLS", "tls"],
      ] as const) {
        const ref = env.get(name)?.valueFrom?.configMapKeyRef;
        if (ref?.name !== KAFKA_AUTH_CONFIGMAP || ref.key !== key) add(`${id}: ${name} must come from ConfigMap ${KAFKA_AUTH_CONFIGMAP}, key ${key}`);
      }
    }
  }
  return problems;
};
