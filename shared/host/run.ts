import type { FastifyInstance } from "fastify";
import { COMPONENTS_USED, STATE_STORE } from "../catalog/names.ts";
import { ConfigError, HostConfig, parseConfig } from "../config.ts";
import { createLogger, type Logger } from "../logger.ts";
import { buildApp } from "./app.ts";
import type { FunctionDef } from "./define.ts";
import { createDaprJobs, type Jobs } from "./jobs.ts";
import { createOnce, daprStateClient, type Once } from "./idempotency.ts";
import { createDaprInvoker, type Invoker } from "./invoke.ts";
import { HostMetrics, instrumentPublisher } from "./metrics.ts";
import { createDaprPublisher, type Publisher } from "./publisher.ts";

/** What the host hands a function's builder: its sidecar's APIs and its logger. */
export interface HostContext {
  config: HostConfig;
  metrics: HostMetrics;
  log: Logger;
  publisher: Publisher;
  jobs: Jobs;
  invoker: Invoker;
  once: Once;
}

/** A function of the catalog claims effects only if the catalog says it uses the state store (its manifests scope the component so). */
const usesStateStore = (service: string): boolean => {
  const declared = (COMPONENTS_USED as Readonly<Record<string, readonly string[]>>)[service];
  return declared === undefined || declared.includes(STATE_STORE);
};

const undeclaredOnce = (service: string): Once => async () => {
  throw new Error(`${service} claims an effect with once(), but COMPONENTS_USED in shared/catalog/names.ts does not give it ${STATE_STORE}`);
};

/** Prints a configuration problem and stops the process; other errors propagate. */
export const exitOnConfigError = (service: string, err: unknown): never => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${service}: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
};

/**
 * Starts a function as a process: config from the environment, publisher and
 * jobs over its sidecar, listen on APP_PORT. SIGTERM/SIGINT stop accepting
 * connections, let in-flight work finish (onClose hooks run), then exit 0.
 */
export const runFunction = async (
  service: string,
  build: FunctionDef | ((host: HostContext) => FunctionDef | Promise<FunctionDef>),
): Promise<FastifyInstance> => {
  let config: HostConfig;
  try {
    config = parseConfig(HostConfig);
  } catch (err) {
    return exitOnConfigError(service, err);
  }
  const log = createLogger(service, config.LOG_LEVEL);
  const sidecar = { daprHost: config.DAPR_HOST, daprPort: config.DAPR_HTTP_PORT };
  const metrics = new HostMetrics(service);
  const host: HostContext = {
    config,
    metrics,
    log,
    publisher: instrumentPublisher(createDaprPublisher(sidecar), metrics),
    jobs: createDaprJobs(sidecar),
    invoker: createDaprInvoker(sidecar),
    once: usesStateStore(service) ? createOnce(daprStateClient(sidecar), config.CLAIM_LEASE_MS) : undeclaredOnce(service),
  };
  let fn: FunctionDef;
  try {
    fn = typeof build === "function" ? await build(host) : build;
  } catch (err) {
    return exitOnConfigError(service, err);
  }
  const app = await buildApp(fn, {
    publisher: host.publisher,
    once: host.once,
    metrics,
    log,
    maxDeliveryAttempts: config.DELIVERY_MAX_ATTEMPTS,
  });

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, "shutting down: finishing in-flight work");
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  await app.listen({ host: config.APP_HOST, port: config.APP_PORT });
  log.info({ port: config.APP_PORT, daprHttpPort: config.DAPR_HTTP_PORT }, "listening");
  return app;
};
