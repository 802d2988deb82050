import type { FastifyInstance } from "fastify";
import { COMPONENTS_USED, STATE_STORE } from "../catalog/names.ts";
import { ConfigError, HostConfig, parseConfig } from "../config.ts";
import { createLogger, type Logger } from "../logger.ts";
import { flushSpans, reportSpansTo } from "../trace.ts";
import { buildApp, buildPublicApp } from "./app.ts";
import type { FunctionDef, FunctionFactory } from "./define.ts";
import { createDaprJobs, type Jobs } from "./jobs.ts";
import { createOnce, daprStateClient, type Once } from "./idempotency.ts";
import { createDaprInvoker, type Invoker } from "./invoke.ts";
import { HostMetrics, instrumentPublisher } from "./metrics.ts";
import { createDaprPublisher, type Publisher } from "./publisher.ts";
import type { SidecarAddress } from "./sidecar.ts";

/** What the host hands a function's builder: its sidecar's APIs and its logger. */
export interface HostContext {
  config: HostConfig;
  /** The function's sidecar, for clients the host does not make (the dead-letter reader's SDK client, say). */
  sidecar: SidecarAddress;
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

const undeclaredOnce =
  (service: string): Once =>
  async () => {
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
 * The host of one function over its sidecar: logger, metrics, and the sidecar's APIs (publish,
 * jobs, invoke, state). The one place they are wired: runFunction (a function's process) and the
 * tests' runWithSidecar (a function in the test process) both come here.
 */
export const wireHost = (service: string, config: HostConfig): HostContext => {
  const sidecar: SidecarAddress = { daprHost: config.DAPR_HOST, daprPort: config.DAPR_HTTP_PORT, apiToken: config.DAPR_API_TOKEN };
  const metrics = new HostMetrics(service);
  return {
    config,
    metrics,
    log: createLogger(service, config.LOG_LEVEL),
    sidecar,
    publisher: instrumentPublisher(createDaprPublisher(sidecar), metrics),
    jobs: createDaprJobs(sidecar),
    invoker: createDaprInvoker(sidecar),
    once: usesStateStore(service) ? createOnce(daprStateClient(sidecar), config.CLAIM_LEASE_MS) : undeclaredOnce(service),
  };
};

/** A function's apps over its host, not listening yet: the sidecar-facing one, and the public one if it has a public API. */
export const buildFunctionApps = async (fn: FunctionDef, host: HostContext): Promise<{ app: FastifyInstance; publicApp: FastifyInstance | undefined }> => ({
  app: await buildApp(fn, {
    publisher: host.publisher,
    once: host.once,
    metrics: host.metrics,
    log: host.log,
    maxDeliveryAttempts: host.config.DELIVERY_MAX_ATTEMPTS,
    appApiToken: host.config.APP_API_TOKEN,
  }),
  publicApp: await buildPublicApp(fn, { log: host.log }),
});

/**
 * Starts a function as a process, under the name its definition gives: config from the
 * environment, the host over its sidecar (wireHost), the sidecar-facing app on APP_PORT (behind
 * the app token) and, for a function with a public API, the public app on PUBLIC_PORT.
 * A FunctionFactory is built with the dependencies `deps` makes from the host.
 * SIGTERM/SIGINT stop accepting connections, let in-flight work finish (the function's background
 * work stops), then exit 0.
 */
export async function runFunction(fn: FunctionDef): Promise<RunningApps>;
export async function runFunction<TDeps>(fn: FunctionFactory<TDeps>, deps: (host: HostContext) => TDeps | Promise<TDeps>): Promise<RunningApps>;
export async function runFunction<TDeps>(
  definition: FunctionDef | FunctionFactory<TDeps>,
  deps?: (host: HostContext) => TDeps | Promise<TDeps>,
): Promise<RunningApps> {
  const service = definition.name;
  let config: HostConfig;
  try {
    config = parseConfig(HostConfig);
  } catch (err) {
    return exitOnConfigError(service, err);
  }
  if (config.TRACING_ZIPKIN_URL) reportSpansTo(config.TRACING_ZIPKIN_URL, service);
  const host = wireHost(service, config);
  const { log } = host;
  let fn: FunctionDef;
  try {
    fn = "build" in definition ? definition.build(await deps!(host)) : definition;
  } catch (err) {
    return exitOnConfigError(service, err);
  }
  const { app, publicApp } = await buildFunctionApps(fn, host);

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, "shutting down: finishing in-flight work");
    Promise.all([publicApp?.close(), app.close()])
      .then(() => fn.background?.stop())
      .then(() => flushSpans())
      .then(
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
  if (publicApp) await publicApp.listen({ host: config.APP_HOST, port: config.PUBLIC_PORT });
  fn.background?.start();
  log.info({ appPort: config.APP_PORT, ...(publicApp ? { publicPort: config.PUBLIC_PORT } : {}), daprHttpPort: config.DAPR_HTTP_PORT }, "listening");
  return { app, publicApp };
}

export interface RunningApps {
  app: FastifyInstance;
  publicApp: FastifyInstance | undefined;
}
