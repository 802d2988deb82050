import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { allTopics } from "../../shared/catalog/names.ts";
import { startCosmos } from "./cosmos.ts";
import { renderDaprResources, startScheduler, startSidecar, type Sidecar } from "./dapr.ts";
import { ensureTopics, startKafka } from "./kafka.ts";
import { assertPortFree, freePort, reapStale, type ManagedProcess } from "./process.ts";
import { provision } from "./provision.ts";
import { startZipkin } from "./zipkin.ts";

/** Fixed ports of `npm run dev`; tests take free ports instead so both can run at once. */
export const DEV_PORTS = { kafka: 9092, kafkaController: 9093, scheduler: 50006, cosmos: 8081 } as const;
export type StackPorts = { -readonly [K in keyof typeof DEV_PORTS]: number };

const PORT_ENV: Record<keyof StackPorts, string> = {
  kafka: "KAFKA_PORT",
  kafkaController: "KAFKA_CONTROLLER_PORT",
  scheduler: "DAPR_SCHEDULER_PORT",
  cosmos: "COSMOS_PORT",
};

/** Zipkin's port in `npm run dev -- --tracing` (its usual one), or ZIPKIN_PORT. */
export const devZipkinPort = (env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env["ZIPKIN_PORT"];
  if (raw === undefined || raw === "") return 9411;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`ZIPKIN_PORT=${raw} is not a port number`);
  return port;
};

/** The dev ports, each overridable by its environment variable (KAFKA_PORT, …). */
export const devPorts = (env: NodeJS.ProcessEnv = process.env): StackPorts => {
  const ports: StackPorts = { ...DEV_PORTS };
  for (const key of Object.keys(PORT_ENV) as (keyof StackPorts)[]) {
    const raw = env[PORT_ENV[key]];
    if (raw === undefined || raw === "") continue;
    const port = Number(raw);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${PORT_ENV[key]}=${raw} is not a port number`);
    ports[key] = port;
  }
  return ports;
};

/** What a process needs to use a running stack; plain data, so it can cross to test workers. */
export interface StackInfo {
  dataDir: string;
  logDir: string;
  pidDir: string;
  kafkaBrokers: string;
  /** True when KAFKA_BROKERS pointed at a broker this stack did not start. */
  externalKafka: boolean;
  schedulerAddress: string;
  cosmosEndpoint: string;
  cosmosKey: string;
  /** The local Cosmos server's request counts (readCosmosStats); unknown when attached to a running stack. */
  cosmosStatsUrl?: string;
  daprd: string;
  daprOrigin: string;
  resourcesPath: string;
  configFile: string;
  /** With tracing on: Zipkin's UI and API, and where spans are reported (the sidecars' configuration and the functions' TRACING_ZIPKIN_URL). */
  zipkin?: { url: string; spansUrl: string };
}

/** A process of the stack that a fault run can stop and start again (same ports, same data). */
export interface Restartable {
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The running process's id; undefined while stopped. */
  readonly pid: number | undefined;
}

export interface Stack extends StackInfo {
  /** The broker this stack started (undefined with KAFKA_BROKERS). */
  kafka: Restartable | undefined;
  scheduler: Restartable;
  stop(): Promise<void>;
}

export interface StackOptions {
  dataDir: string;
  ports: "dev" | "free";
  /** Start from empty: no topics, offsets, state or logs of earlier runs (tests). */
  fresh?: boolean;
  /** Traces end to end: a local Zipkin, daprd's tracing on and exporting to it, the functions reporting their spans to it. */
  tracing?: boolean;
  log?: (line: string) => void;
}

/**
 * Starts the local event stack: Kafka (KRaft) unless KAFKA_BROKERS is set, the
 * Dapr scheduler, a Cosmos-compatible server; creates every topic; renders the
 * Dapr resources. Functions and their sidecars are started on top of it.
 */
export const startStack = async (opts: StackOptions): Promise<Stack> => {
  const log = opts.log ?? (() => undefined);
  const logDir = join(opts.dataDir, "logs");
  const pidDir = join(opts.dataDir, "pids");
  const reaped = reapStale(pidDir);
  if (reaped.length > 0) log(`stopped processes left by an earlier run: ${reaped.join(", ")}`);
  if (opts.fresh) {
    for (const d of ["kafka", "scheduler", "state", "dapr", "logs"]) rmSync(join(opts.dataDir, d), { recursive: true, force: true });
  }
  mkdirSync(logDir, { recursive: true });

  const externalBrokers = process.env["KAFKA_BROKERS"];
  const ports: StackPorts =
    opts.ports === "dev" ? devPorts() : { kafka: await freePort(), kafkaController: await freePort(), scheduler: await freePort(), cosmos: await freePort() };
  if (opts.ports === "dev") {
    if (!externalBrokers) {
      await assertPortFree(ports.kafka, "Kafka", "Stop what holds it, or set KAFKA_BROKERS to use that broker.");
      await assertPortFree(ports.kafkaController, "Kafka controller", "Stop what holds it.");
    }
    await assertPortFree(ports.scheduler, "Dapr scheduler", "Stop the other Dapr scheduler (dapr uninstall, or its process).");
    await assertPortFree(ports.cosmos, "Cosmos DB server", "Stop the Cosmos DB emulator or whatever listens there.");
    if (opts.tracing) await assertPortFree(devZipkinPort(), "Zipkin", "Stop the other Zipkin, or set ZIPKIN_PORT.");
  }

  const { kafka, dapr } = await provision();
  const started: { name: string; stop(): Promise<void> }[] = [];
  const stop = async () => {
    for (const p of started.reverse()) await p.stop().catch(() => undefined);
    started.length = 0;
  };

  try {
    const kafkaProcess = kafka
      ? restartable(
          "kafka",
          async () =>
            (
              await startKafka({
                java: kafka.java,
                classpath: kafka.classpath,
                dir: join(opts.dataDir, "kafka"),
                logFile: join(logDir, "kafka.log"),
                pidDir,
                port: ports.kafka,
                controllerPort: ports.kafkaController,
              })
            ).process,
        )
      : undefined;
    const kafkaStart = kafkaProcess
      ? kafkaProcess.start().then(() => {
          started.push(kafkaProcess);
          return `127.0.0.1:${ports.kafka}`;
        })
      : Promise.resolve(externalBrokers!);
    const scheduler = restartable(
      "scheduler",
      async () =>
        (
          await startScheduler({
            binary: dapr.scheduler,
            dataDir: join(opts.dataDir, "scheduler"),
            logFile: join(logDir, "scheduler.log"),
            pidDir,
            port: ports.scheduler,
          })
        ).process,
    );
    const schedulerStart = scheduler.start().then(() => {
      started.push(scheduler);
      return `127.0.0.1:${ports.scheduler}`;
    });
    const cosmosStart = startCosmos({ port: ports.cosmos, logFile: join(logDir, "cosmos.log"), pidDir }).then((cosmos) => {
      started.push({ name: "cosmos", stop: cosmos.stop });
      return cosmos;
    });
    const zipkinStart = opts.tracing
      ? startZipkin({ port: opts.ports === "dev" ? devZipkinPort() : undefined, logFile: join(logDir, "zipkin.log"), pidDir }).then((zipkin) => {
          started.push({ name: "zipkin", stop: zipkin.stop });
          return zipkin;
        })
      : Promise.resolve(undefined);
    const [kafkaBrokers, schedulerAddress, cosmos, zipkin] = await Promise.all([kafkaStart, schedulerStart, cosmosStart, zipkinStart]);
    log(`Kafka ${kafkaBrokers}${externalBrokers ? " (KAFKA_BROKERS)" : ""}; scheduler ${schedulerAddress}; Cosmos ${cosmos.endpoint}`);

    await ensureTopics(kafkaBrokers, allTopics());

    const stateDir = join(opts.dataDir, "state");
    mkdirSync(stateDir, { recursive: true });
    const { resourcesPath, configFile } = renderDaprResources(
      join(opts.dataDir, "dapr"),
      {
        KAFKA_BROKERS: kafkaBrokers,
        STATE_DB: join(stateDir, "state.db"),
        NAME_RESOLUTION_DB: join(stateDir, "name-resolution.db"),
      },
      { zipkinSpansUrl: zipkin?.spansUrl },
    );

    return {
      dataDir: opts.dataDir,
      logDir,
      pidDir,
      kafkaBrokers,
      externalKafka: !kafka,
      schedulerAddress,
      cosmosEndpoint: cosmos.endpoint,
      cosmosKey: cosmos.key,
      cosmosStatsUrl: cosmos.statsUrl,
      daprd: dapr.daprd,
      daprOrigin: dapr.origin,
      resourcesPath,
      configFile,
      ...(zipkin ? { zipkin: { url: zipkin.url, spansUrl: zipkin.spansUrl } } : {}),
      kafka: kafkaProcess,
      scheduler,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
};

/** A process started by `launch`, stopped and started again on demand (stop is a no-op while stopped). */
const restartable = (name: string, launch: () => Promise<ManagedProcess>): Restartable & { name: string } => {
  let current: ManagedProcess | undefined;
  return {
    name,
    get pid() {
      return current?.pid;
    },
    async start() {
      if (!current) current = await launch();
    },
    async stop() {
      const running = current;
      current = undefined;
      await running?.stop();
    },
  };
};

/**
 * A sidecar for `appId` on the running stack; its log goes to <data>/logs/daprd-<instance>.log
 * (the instance is the app-id unless several copies of the app run).
 */
export const sidecarFor = (
  stack: StackInfo,
  appId: string,
  appPort: number,
  {
    instance = appId,
    ...extra
  }: { httpPort?: number; logLevel?: string; appHealthCheck?: boolean; instance?: string; appApiToken?: string; daprApiToken?: string } = {},
): Promise<Sidecar> =>
  startSidecar({
    binary: stack.daprd,
    appId,
    instance,
    appPort,
    resourcesPath: stack.resourcesPath,
    configFile: stack.configFile,
    schedulerAddress: stack.schedulerAddress,
    logFile: join(stack.logDir, `daprd-${instance}.log`),
    pidDir: stack.pidDir,
    ...extra,
  });
