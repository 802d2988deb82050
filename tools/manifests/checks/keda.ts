/**
 * Cross-checks of the KEDA objects: one ScaledObject per consumer, aimed at it, with one trigger
 * per topic it consumes, on the pub/sub component's cluster and consumer group.
 */
import { allTopics, CONSUMERS, PUBSUB, Service, TOPIC_CONSUMERS, type ServiceName, type TopicName } from "../../../shared/catalog/names.ts";
import { list, metaValue, SECRET_NAME, sameSet, type Component, type Deployment, type KafkaTopic, type Rendered, type ScaledObject } from "./model.ts";

const TOPICS = new Map(allTopics().map((t) => [t.name, t]));

const consumedTopics = (service: ServiceName): TopicName[] =>
  (Object.keys(TOPIC_CONSUMERS) as TopicName[]).filter((topic) => TOPIC_CONSUMERS[topic].includes(service));

export const checkScaledObjects = (r: Rendered): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  const scaledObjects = r.of<ScaledObject>("ScaledObject", "keda.sh");
  const deployments = r.of<Deployment>("Deployment", "apps");
  const triggerAuths = new Set(r.of("TriggerAuthentication", "keda.sh").map((o) => o.metadata.name));
  const pubsub = r.named(r.of<Component>("Component", "dapr.io"), PUBSUB);
  const hasKafka = r.of("Kafka", "kafka.strimzi.io").length > 0;
  const kafkaTopics = r.of<KafkaTopic>("KafkaTopic", "kafka.strimzi.io");

  if (scaledObjects.some((s) => s.metadata.name === Service.TaskApi || s.spec?.scaleTargetRef?.name === Service.TaskApi)) {
    add(`ScaledObject for ${Service.TaskApi}: task-api is always on and must not be scaled by KEDA`);
  }
  for (const consumer of CONSUMERS) {
    if (!r.named(scaledObjects, consumer)) add(`ScaledObject/${consumer} is missing`);
  }
  const brokers = pubsub ? metaValue(pubsub, "brokers") : undefined;
  const pubsubAuthenticates = pubsub ? metaValue(pubsub, "authType") !== "none" : false;

  for (const s of scaledObjects) {
    const name = s.metadata.name;
    const id = `ScaledObject/${name}`;
    const target = s.spec?.scaleTargetRef;
    if (target?.name !== name) add(`${id}: scaleTargetRef.name "${target?.name ?? ""}" differs from the ScaledObject name`);
    if (target?.name && !r.named(deployments, target.name)) add(`${id}: scaleTargetRef names no Deployment "${target.name}"`);
    if (target?.kind !== undefined && target.kind !== "Deployment") add(`${id}: scaleTargetRef must be a Deployment`);
    if (s.spec?.minReplicaCount !== 0) add(`${id}: minReplicaCount must be 0 (scale to zero)`);

    const triggers = (s.spec?.triggers ?? []).filter((t) => t.type === "kafka");
    if (triggers.length === 0) add(`${id}: has no kafka trigger`);
    const topics: string[] = [];
    triggers.forEach((t, i) => {
      const m = t.metadata ?? {};
      const tid = `${id}: trigger ${i}`;
      const appId = r.named(deployments, name)?.spec?.template?.metadata?.annotations?.["dapr.io/app-id"] ?? name;
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
      if (
        t.authenticationRef?.name &&
        (t.authenticationRef.kind ?? "TriggerAuthentication") === "TriggerAuthentication" &&
        !triggerAuths.has(t.authenticationRef.name)
      ) {
        add(`${tid} authenticationRef names no TriggerAuthentication "${t.authenticationRef.name}"`);
      }
      const topic = m["topic"];
      if (!topic) {
        add(`${tid} names no topic (a new consumer group has no committed topics, so it would never wake)`);
        return;
      }
      topics.push(topic);
      if (!TOPICS.has(topic)) add(`${tid} names topic "${topic}", which is not in allTopics()`);
      else if (hasKafka && !kafkaTopics.some((k) => (k.spec?.topicName ?? k.metadata.name) === topic))
        add(`${tid} names topic "${topic}", which has no KafkaTopic`);
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
  return problems;
};
