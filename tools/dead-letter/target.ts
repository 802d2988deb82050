/**
 * Where the dead-letter tool reads and replays, from its environment:
 *
 * - a cluster's Kafka (KAFKA_BROKERS set): brokers, SASL and TLS from the same variables
 *   lag-dashboard reads (KAFKA_SASL_MECHANISM/USERNAME/PASSWORD, KAFKA_TLS; in clusters from the
 *   Secret kafka-credentials and the ConfigMap kafka-auth). The tool renders a Dapr pub/sub
 *   component from them for a daprd of its own, into a directory only the user can read
 *   (0700, files 0600), removed when the run ends. (The locally built daprd has no secret
 *   store to take them from: tools/dapr-build/daprd registers only what the stack uses.)
 * - in a pod (DLQ_SIDECAR=pod, the Job of deploy/components/dead-letter-tool): the pod's injected
 *   sidecar and the cluster's pub/sub component; the tool serves its app on APP_PORT and shuts the
 *   sidecar down when done.
 * - otherwise the local stack `npm run dev` runs (stack.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { DEAD_LETTER_TOOL, PUBSUB } from "../../shared/catalog/names.ts";
import { parseConfig } from "../../shared/config.ts";
import type { SidecarAddress } from "../../shared/host/sidecar.ts";
import { DAPR_SASL_MECHANISM, KafkaAccessConfig, kafkaAccessOf, plainKafkaAccess, type KafkaAccess } from "../../shared/kafka.ts";
import { ensureDapr } from "../stack/provision.ts";
import type { StackInfo } from "../stack/stack.ts";
import { connectToRunningStack } from "./stack.ts";

/** A daprd the tool starts beside itself, with these resources. */
export interface OwnSidecar {
  kind: "own";
  kafka: KafkaAccess;
  daprd: string;
  resourcesPath: string;
  configFile: string;
  /** The scheduler, or "" for none (the tool schedules no jobs). */
  schedulerAddress: string;
  logDir: string;
  pidDir: string;
  /** Removes what was rendered for the run. */
  cleanUp(): void;
}

/** The sidecar injected into the tool's pod. */
export interface PodSidecar {
  kind: "pod";
  kafka: KafkaAccess;
  appId: string;
  appHost: string;
  appPort: number;
  appApiToken: string;
  sidecar: SidecarAddress;
}

export type Target = OwnSidecar | PodSidecar;

const PodConfig = z.object({
  /** The pod's app-id (dapr.io/app-id), which is also the consumer group it reads with. */
  APP_ID: z.string().min(1),
  APP_HOST: z.string().min(1).default("0.0.0.0"),
  APP_PORT: z.coerce.number().int().min(1).max(65535),
  APP_API_TOKEN: z.string().min(16),
  DAPR_HOST: z.string().min(1).default("127.0.0.1"),
  DAPR_HTTP_PORT: z.coerce.number().int().min(1).max(65535).default(3500),
  DAPR_API_TOKEN: z.string().min(16),
});

const Mode = z.object({
  /** own (default): a daprd started by the tool; pod: the one injected into the tool's pod. */
  DLQ_SIDECAR: z.enum(["own", "pod"]).default("own"),
});

/**
 * The Dapr resources of a tool run against a cluster's Kafka, written into `dir` (which should be
 * the run's own, readable by the user only): the pub/sub component and a Configuration.
 */
export const renderToolResources = (access: KafkaAccess, dir: string): { resourcesPath: string; configFile: string } => {
  const resourcesPath = join(dir, "resources");
  const metadata: unknown[] = [
    { name: "brokers", value: access.brokers.join(",") },
    { name: "authType", value: access.sasl ? "password" : "none" },
    ...(access.sasl
      ? [
          { name: "saslUsername", value: access.sasl.username },
          { name: "saslPassword", value: access.sasl.password },
          { name: "saslMechanism", value: DAPR_SASL_MECHANISM[access.sasl.mechanism] },
        ]
      : []),
    ...(access.sasl && !access.ssl ? [{ name: "disableTls", value: "true" }] : []),
    // A new group (each run's) reads every record from the oldest.
    { name: "initialOffset", value: "oldest" },
    { name: "version", value: "4.0.0" },
    { name: "producerRequiredAcks", value: "all" },
  ];
  const pubsub = {
    apiVersion: "dapr.io/v1alpha1",
    kind: "Component",
    metadata: { name: PUBSUB },
    spec: { type: "pubsub.kafka", version: "v1", metadata },
  };
  // Name resolution through a file of the run's own: the default (mDNS) would announce the app on the network.
  const config = {
    apiVersion: "dapr.io/v1alpha1",
    kind: "Configuration",
    metadata: { name: DEAD_LETTER_TOOL },
    spec: {
      nameResolution: { component: "sqlite", configuration: { connectionString: join(dir, "name-resolution.db") } },
      tracing: { samplingRate: "0" },
    },
  };
  mkdirSync(resourcesPath, { recursive: true, mode: 0o700 });
  writeFileSync(join(resourcesPath, "pubsub.yaml"), stringify(pubsub), { mode: 0o600 });
  const configFile = join(dir, "config.yaml");
  writeFileSync(configFile, stringify(config), { mode: 0o600 });
  return { resourcesPath, configFile };
};

/**
 * The target the environment names. `dataDir` is the local stack's (STACK_DATA_DIR), also where
 * the tool's own sidecar logs go when it reads a cluster's Kafka.
 */
export const targetFromEnv = async (dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<Target> => {
  const { DLQ_SIDECAR } = parseConfig(Mode, env);
  if (DLQ_SIDECAR === "pod") {
    const pod = parseConfig(PodConfig, env);
    return {
      kind: "pod",
      kafka: kafkaAccessOf(parseConfig(KafkaAccessConfig, env)),
      appId: pod.APP_ID,
      appHost: pod.APP_HOST,
      appPort: pod.APP_PORT,
      appApiToken: pod.APP_API_TOKEN,
      sidecar: { daprHost: pod.DAPR_HOST, daprPort: pod.DAPR_HTTP_PORT, apiToken: pod.DAPR_API_TOKEN },
    };
  }
  if (env["KAFKA_BROKERS"]) {
    const kafka = kafkaAccessOf(parseConfig(KafkaAccessConfig, env));
    const dir = mkdtempSync(join(tmpdir(), "dead-letter-tool-"));
    const { resourcesPath, configFile } = renderToolResources(kafka, dir);
    const dapr = await ensureDapr();
    return {
      kind: "own",
      kafka,
      daprd: dapr.daprd,
      resourcesPath,
      configFile,
      schedulerAddress: "",
      logDir: join(dataDir, "logs"),
      pidDir: join(dataDir, "pids"),
      cleanUp: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  return localStackTarget(await connectToRunningStack(dataDir, env));
};

/** A sidecar of the tool's own beside a local stack, with the stack's rendered resources. */
export const localStackTarget = (stack: StackInfo): OwnSidecar => ({
  kind: "own",
  kafka: plainKafkaAccess(stack.kafkaBrokers),
  daprd: stack.daprd,
  resourcesPath: stack.resourcesPath,
  configFile: stack.configFile,
  schedulerAddress: stack.schedulerAddress,
  logDir: stack.logDir,
  pidDir: stack.pidDir,
  cleanUp: () => undefined,
});
