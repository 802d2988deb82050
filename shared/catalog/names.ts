/**
 * Every name that crosses a process boundary: Dapr component names, topics,
 * services and their dead-letter topics. No other file spells these strings.
 */

/** Dapr pub/sub component (Kafka) every function publishes and subscribes through. */
export const PUBSUB = "pubsub";

/** Dapr state store used for idempotency keys. */
export const STATE_STORE = "statestore";

export const Topic = {
  TaskEvents: "task-events",
  Reminders: "reminders",
  TaskUpdates: "task-updates",
} as const;
export type TopicName = (typeof Topic)[keyof typeof Topic];

/** One name per service: folder, Dapr app-id, Deployment, ScaledObject, consumer group. */
export const Service = {
  TaskApi: "task-api",
  RecurringTaskService: "recurring-task-service",
  NotificationService: "notification-service",
  AuditService: "audit-service",
} as const;
export type ServiceName = (typeof Service)[keyof typeof Service];

/** The services that consume topics; each has its own consumer group and dead-letter topic. */
export const CONSUMERS = [
  Service.RecurringTaskService,
  Service.NotificationService,
  Service.AuditService,
] as const;

/**
 * A consumer's dead-letter topic: one per consumer, for every topic it reads,
 * so an operator sees per consumer what it could not process.
 */
export const deadLetterTopicOf = (service: string): string => `${service}.dlq`;

/**
 * Partition counts. Events are keyed by task id, so per-task order holds at any
 * count; the count caps consumer parallelism (and KEDA's replica count).
 */
export const TOPIC_PARTITIONS: Readonly<Record<TopicName, number>> = {
  [Topic.TaskEvents]: 6,
  [Topic.Reminders]: 6,
  [Topic.TaskUpdates]: 6,
};
export const DEAD_LETTER_PARTITIONS = 1;

export interface TopicSpec {
  name: string;
  partitions: number;
}

/** Every topic the system needs, dead-letter topics included: created explicitly, never auto-created. */
export const allTopics = (): TopicSpec[] => [
  ...Object.values(Topic).map((name) => ({ name, partitions: TOPIC_PARTITIONS[name] })),
  ...CONSUMERS.map((service) => ({ name: deadLetterTopicOf(service), partitions: DEAD_LETTER_PARTITIONS })),
];
