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
  /** Operators' view of consumer lag and dead letters; reads offsets, subscribes to dead-letter topics. */
  LagDashboard: "lag-dashboard",
} as const;
export type ServiceName = (typeof Service)[keyof typeof Service];

/**
 * The functions of the project, each a folder functions/<name>/ with a main.ts: what npm run dev
 * and the Dapr run file start, and what the manifests deploy (a Deployment, a Service and an image
 * of the Dockerfile each). Every service of the catalog is one.
 */
export const DEPLOYED_FUNCTIONS: readonly ServiceName[] = Object.values(Service);

/**
 * The Dapr components each function uses. Every function uses the pub/sub (it publishes events
 * or dead letters, or subscribes); the state store only where effects are claimed with
 * ctx.once. The manifests scope each component to exactly these apps, and the host gives
 * `once` only to the functions listed here.
 */
export const COMPONENTS_USED: Readonly<Record<ServiceName, readonly string[]>> = {
  [Service.TaskApi]: [PUBSUB],
  [Service.RecurringTaskService]: [PUBSUB],
  [Service.NotificationService]: [PUBSUB, STATE_STORE],
  [Service.AuditService]: [PUBSUB],
  [Service.LagDashboard]: [PUBSUB],
};

/** The Kubernetes namespace every function, ScaledObject and Dapr resource lives in (deploy/). */
export const KUBERNETES_NAMESPACE = "taskapp";

/**
 * The apps that may call task-api's internal API (service invocation, on behalf of a task's
 * owner): task-api checks the caller daprd names, and Dapr's access control allows only these.
 */
export const TASK_API_CALLERS: readonly ServiceName[] = [Service.RecurringTaskService, Service.NotificationService];

/** The services that consume topics; each has its own consumer group and dead-letter topic. */
export const CONSUMERS = [Service.RecurringTaskService, Service.NotificationService, Service.AuditService] as const;

/**
 * The services with a dead-letter topic: every consumer, for what it gives up on; task-api, for
 * reminder jobs it cannot carry out. (lag-dashboard reads the dead-letter topics through a raw
 * subscription, which dead-letters nothing, so it has none.)
 */
export const DEAD_LETTER_OWNERS: readonly ServiceName[] = [Service.TaskApi, ...CONSUMERS];

/**
 * The app-id of the dead-letter tool (`npm run dlq`) where it runs in a cluster, as a Job with a
 * Dapr sidecar (deploy/components/dead-letter-tool): its consumer group while it reads, the app the
 * pub/sub component lets read every dead-letter topic and replay to the topics events come from.
 * Not a function: it runs when an operator asks, and is not in Service.
 */
export const DEAD_LETTER_TOOL = "dead-letter-tool";

/**
 * The consumer group that marks how far operators have dealt with each dead-letter topic: it never
 * has members; `npm run dlq -- ack` (and `replay --all`) set its offsets to the ends they read.
 * Dead-letter depth (lag-dashboard's taskapp_deadletter_depth, and its alert) is what lies beyond.
 */
export const DEAD_LETTERS_ACKNOWLEDGED = `${DEAD_LETTER_TOOL}.acknowledged`;

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

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How long Kafka keeps records. Long enough for a consumer scaled to zero over a
 * holiday to catch up; task-updates only serve live clients. Dead-letter topics
 * are kept for four weeks so an operator can inspect and replay.
 */
export const TOPIC_RETENTION_MS: Readonly<Record<TopicName, number>> = {
  [Topic.TaskEvents]: 14 * DAY_MS,
  [Topic.Reminders]: 14 * DAY_MS,
  [Topic.TaskUpdates]: 1 * DAY_MS,
};
export const DEAD_LETTER_RETENTION_MS = 28 * DAY_MS;

/** Who writes each topic. */
export const TOPIC_PRODUCERS: Readonly<Record<TopicName, readonly ServiceName[]>> = {
  [Topic.TaskEvents]: [Service.TaskApi],
  [Topic.Reminders]: [Service.TaskApi],
  [Topic.TaskUpdates]: [Service.TaskApi, Service.NotificationService],
};

/** Who reads each topic; each consumer reads with its own consumer group (= its name). */
export const TOPIC_CONSUMERS: Readonly<Record<TopicName, readonly ServiceName[]>> = {
  [Topic.TaskEvents]: [Service.RecurringTaskService, Service.AuditService],
  [Topic.Reminders]: [Service.NotificationService, Service.AuditService],
  [Topic.TaskUpdates]: [Service.AuditService],
};

export interface TopicSpec {
  name: string;
  partitions: number;
  retentionMs?: number;
}

/** Every topic the system needs, dead-letter topics included: created explicitly, never auto-created. */
export const allTopics = (): TopicSpec[] => [
  ...Object.values(Topic).map((name) => ({ name, partitions: TOPIC_PARTITIONS[name], retentionMs: TOPIC_RETENTION_MS[name] })),
  ...DEAD_LETTER_OWNERS.map((service) => ({
    name: deadLetterTopicOf(service),
    partitions: DEAD_LETTER_PARTITIONS,
    retentionMs: DEAD_LETTER_RETENTION_MS,
  })),
];
