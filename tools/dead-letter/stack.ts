import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LOCAL_COSMOS_KEY } from "../stack/cosmos.ts";
import { kafkaReady } from "../stack/kafka.ts";
import { ensureDapr } from "../stack/provision.ts";
import { devPorts, type StackInfo } from "../stack/stack.ts";

/** The brokers in a rendered Kafka pub/sub component (`- name: brokers` / `value: "…"`). */
export const brokersOf = (pubsubYaml: string): string | undefined => /-\s*name:\s*brokers\s*\n\s*value:\s*"?([^"\n]+?)"?\s*$/m.exec(pubsubYaml)?.[1]?.trim();

/**
 * The stack `npm run dev` runs from `dataDir`: its rendered Dapr resources and
 * config, its Kafka (the brokers in the rendered pub/sub component), its
 * scheduler and Cosmos ports (the dev ports, or their KAFKA_PORT-style
 * overrides), and the daprd provisioning finds. (With KAFKA_BROKERS set the
 * tool reads that cluster instead: target.ts.)
 */
export const connectToRunningStack = async (dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<StackInfo> => {
  const daprDir = join(dataDir, "dapr");
  const resourcesPath = join(daprDir, "resources");
  const configFile = join(daprDir, "config.yaml");
  const pubsubFile = join(resourcesPath, "pubsub.yaml");
  if (!existsSync(pubsubFile) || !existsSync(configFile)) {
    throw new Error(`no Dapr resources in ${daprDir}: start the stack with \`npm run dev\` (or set STACK_DATA_DIR to its data directory)`);
  }
  const kafkaBrokers = brokersOf(readFileSync(pubsubFile, "utf8"));
  if (!kafkaBrokers) throw new Error(`${pubsubFile} names no brokers`);
  if (!(await kafkaReady(kafkaBrokers).catch(() => false))) {
    throw new Error(`Kafka at ${kafkaBrokers} does not answer: is \`npm run dev\` running?`);
  }
  const ports = devPorts(env);
  const dapr = await ensureDapr();
  return {
    dataDir,
    logDir: join(dataDir, "logs"),
    pidDir: join(dataDir, "pids"),
    kafkaBrokers,
    externalKafka: false,
    schedulerAddress: `127.0.0.1:${ports.scheduler}`,
    cosmosEndpoint: `https://127.0.0.1:${ports.cosmos}`,
    cosmosKey: LOCAL_COSMOS_KEY,
    daprd: dapr.daprd,
    daprOrigin: dapr.origin,
    resourcesPath,
    configFile,
  };
};
