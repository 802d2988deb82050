/**
 * Cross-checks of Kafka: the Strimzi topics against the catalog, and one set of Kafka settings
 * for the three clients of the cluster: the Dapr pub/sub component, KEDA's TriggerAuthentication
 * and lag-dashboard's admin client.
 */
import { allTopics, PUBSUB, Service } from "../../../shared/catalog/names.ts";
import { DAPR_SASL_MECHANISM, KEDA_SASL_MECHANISM, type KafkaSaslMechanism } from "../../../shared/kafka.ts";
import {
  containerOf,
  envOf,
  list,
  metaValue,
  type Component,
  type ConfigMap,
  type Deployment,
  type KafkaTopic,
  type Rendered,
  type ScaledObject,
  type TriggerAuthentication,
} from "./model.ts";

/**
 * The non-secret Kafka settings of a SASL cluster, in KEDA's spelling (its TriggerAuthentication
 * reads them, and so does lag-dashboard): `sasl` and `tls`. Set by a provider component.
 */
export const KAFKA_AUTH_CONFIGMAP = "kafka-auth";

/**
 * Dapr's saslMechanism → KEDA's sasl, for the mechanisms Dapr's Kafka component knows by those
 * names (shared/kafka.ts: "SCRAM-SHA-256" is not one of them; Dapr would speak PLAIN).
 */
export const KEDA_SASL_OF: Readonly<Record<string, string>> = Object.fromEntries(
  (Object.keys(DAPR_SASL_MECHANISM) as KafkaSaslMechanism[]).map((m) => [DAPR_SASL_MECHANISM[m], KEDA_SASL_MECHANISM[m]]),
);

const sameRef = (a: { name?: string; key?: string } | undefined, b: { name?: string; key?: string } | undefined): boolean =>
  a !== undefined && b !== undefined && a.name === b.name && a.key === b.key;

const refText = (ref: { name?: string; key?: string } | undefined): string => (ref ? `${ref.name ?? ""}/${ref.key ?? ""}` : "nothing");

export const checkStrimziTopics = (r: Rendered): string[] => {
  const problems: string[] = [];
  const kafkas = r.of("Kafka", "kafka.strimzi.io");
  if (kafkas.length === 0) return problems;
  const kafkaTopics = r.of<KafkaTopic>("KafkaTopic", "kafka.strimzi.io");
  const topicOf = (t: KafkaTopic) => t.spec?.topicName ?? t.metadata.name;
  const known = new Set(allTopics().map((t) => t.name));
  const clusters = new Set(kafkas.map((k) => k.metadata.name));
  for (const spec of allTopics()) {
    const topic = kafkaTopics.find((k) => topicOf(k) === spec.name);
    if (!topic) {
      problems.push(`KafkaTopic for "${spec.name}" is missing (every topic of allTopics() is created explicitly)`);
      continue;
    }
    const id = `KafkaTopic/${topic.metadata.name}`;
    if (topic.spec?.partitions !== spec.partitions) problems.push(`${id}: partitions ${String(topic.spec?.partitions)}, the catalog says ${spec.partitions}`);
    const retention = topic.spec?.config?.["retention.ms"];
    if (spec.retentionMs !== undefined && Number(retention) !== spec.retentionMs) {
      problems.push(`${id}: retention.ms ${String(retention)}, the catalog says ${spec.retentionMs}`);
    }
  }
  for (const topic of kafkaTopics) {
    const id = `KafkaTopic/${topic.metadata.name}`;
    if (!known.has(topicOf(topic))) problems.push(`${id}: "${topicOf(topic)}" is not a topic of the catalog (allTopics())`);
    const cluster = topic.metadata.labels?.["strimzi.io/cluster"];
    if (!cluster || !clusters.has(cluster)) problems.push(`${id}: label strimzi.io/cluster "${cluster ?? ""}" names no Kafka cluster`);
  }
  return problems;
};

/** The pub/sub component, KEDA and lag-dashboard reach the same cluster the same way. */
export const checkKafkaClients = (r: Rendered): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  const pubsub = r.named(r.of<Component>("Component", "dapr.io"), PUBSUB);
  const dashboard = r.named(r.of<Deployment>("Deployment", "apps"), Service.LagDashboard);
  if (!pubsub || !dashboard) return problems;
  const env = envOf(containerOf(dashboard));
  const did = `Deployment/${Service.LagDashboard}`;

  const brokers = metaValue(pubsub, "brokers");
  if (env.get("KAFKA_BROKERS")?.value !== brokers) {
    add(`${did}: KAFKA_BROKERS "${env.get("KAFKA_BROKERS")?.value ?? ""}" differs from the ${PUBSUB} component's brokers "${brokers ?? ""}"`);
  }

  const authType = metaValue(pubsub, "authType");
  if (authType === "none") {
    for (const name of ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]) {
      if (env.has(name)) add(`${did}: sets ${name}, but the ${PUBSUB} component uses no SASL`);
    }
    return problems;
  }
  if (authType !== "password") {
    add(`Component/${PUBSUB}: authType "${authType ?? ""}": the checks know none (no SASL) and password (SASL/SCRAM or PLAIN)`);
    return problems;
  }

  // SASL: the component's literal mechanism and TLS, kafka-auth's in KEDA's spelling, the same credentials everywhere.
  const meta = (name: string) => pubsub.spec?.metadata?.find((m) => m.name === name);
  const username = meta("saslUsername")?.secretKeyRef;
  const password = meta("saslPassword")?.secretKeyRef;
  const mechanism = metaValue(pubsub, "saslMechanism") ?? "";
  const sasl = KEDA_SASL_OF[mechanism];
  if (!sasl)
    add(
      `Component/${PUBSUB}: saslMechanism "${mechanism}" is none of ${list(Object.keys(KEDA_SASL_OF))} (Dapr's Kafka component speaks PLAIN for any other value)`,
    );
  if (!username || !password) add(`Component/${PUBSUB}: saslUsername and saslPassword must come from a Secret (secretKeyRef)`);
  const tls = metaValue(pubsub, "disableTls") === "true" ? "disable" : "enable";

  const settings = r.named(r.core<ConfigMap>("ConfigMap"), KAFKA_AUTH_CONFIGMAP);
  if (!settings) add(`ConfigMap/${KAFKA_AUTH_CONFIGMAP} is missing (sasl and tls for KEDA and lag-dashboard)`);
  else {
    if (sasl && settings.data?.["sasl"] !== sasl)
      add(
        `ConfigMap/${KAFKA_AUTH_CONFIGMAP}: sasl "${settings.data?.["sasl"] ?? ""}", but the ${PUBSUB} component's saslMechanism ${mechanism} is KEDA's "${sasl}"`,
      );
    if (settings.data?.["tls"] !== tls)
      add(
        `ConfigMap/${KAFKA_AUTH_CONFIGMAP}: tls "${settings.data?.["tls"] ?? ""}", but the ${PUBSUB} component's TLS is ${tls === "enable" ? "on" : "off"} ("${tls}")`,
      );
  }
  const fromSettings = (key: string) => ({ name: KAFKA_AUTH_CONFIGMAP, key });

  // KEDA: every TriggerAuthentication a trigger uses.
  const authNames = new Set(
    r
      .of<ScaledObject>("ScaledObject", "keda.sh")
      .flatMap((s) => (s.spec?.triggers ?? []).map((t) => t.authenticationRef?.name).filter((n): n is string => !!n)),
  );
  for (const auth of r.of<TriggerAuthentication>("TriggerAuthentication", "keda.sh").filter((a) => authNames.has(a.metadata.name))) {
    const id = `TriggerAuthentication/${auth.metadata.name}`;
    const secretParam = (p: string) => auth.spec?.secretTargetRef?.find((x) => x.parameter === p);
    const configParam = (p: string) => auth.spec?.configMapTargetRef?.find((x) => x.parameter === p);
    if (!sameRef(secretParam("username"), username))
      add(`${id}: username from ${refText(secretParam("username"))}, the ${PUBSUB} component's from ${refText(username)}`);
    if (!sameRef(secretParam("password"), password))
      add(`${id}: password from ${refText(secretParam("password"))}, the ${PUBSUB} component's from ${refText(password)}`);
    for (const p of ["sasl", "tls"]) {
      if (!sameRef(configParam(p), fromSettings(p)))
        add(`${id}: ${p} must come from ConfigMap ${KAFKA_AUTH_CONFIGMAP}, key ${p} (it comes from ${refText(configParam(p) ?? secretParam(p))})`);
    }
  }

  // lag-dashboard: the same credentials and settings.
  const secretEnv = (name: string) => env.get(name)?.valueFrom?.secretKeyRef;
  const configEnv = (name: string) => env.get(name)?.valueFrom?.configMapKeyRef;
  if (!sameRef(secretEnv("KAFKA_SASL_USERNAME"), username))
    add(`${did}: KAFKA_SASL_USERNAME from ${refText(secretEnv("KAFKA_SASL_USERNAME"))}, the ${PUBSUB} component's from ${refText(username)}`);
  if (!sameRef(secretEnv("KAFKA_SASL_PASSWORD"), password))
    add(`${did}: KAFKA_SASL_PASSWORD from ${refText(secretEnv("KAFKA_SASL_PASSWORD"))}, the ${PUBSUB} component's from ${refText(password)}`);
  if (!sameRef(configEnv("KAFKA_SASL_MECHANISM"), fromSettings("sasl")))
    add(`${did}: KAFKA_SASL_MECHANISM must come from ConfigMap ${KAFKA_AUTH_CONFIGMAP}, key sasl`);
  if (!sameRef(configEnv("KAFKA_TLS"), fromSettings("tls"))) add(`${did}: KAFKA_TLS must come from ConfigMap ${KAFKA_AUTH_CONFIGMAP}, key tls`);
  return problems;
};
