import type { FastifyInstance } from "fastify";
import { ConfigError, HostConfig, parseConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { buildApp } from "./app.ts";
import type { FunctionDef } from "./define.ts";
import { createDaprPublisher } from "./publisher.ts";

/**
 * Starts a function as a process: config from the environment, publisher over
 * its sidecar, listen on APP_PORT. SIGTERM/SIGINT stop accepting connections,
 * let in-flight deliveries finish, then exit 0.
 */
export const runFunction = async (fn: FunctionDef): Promise<FastifyInstance> => {
  let config: HostConfig;
  try {
    config = parseConfig(HostConfig);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${fn.name}: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(fn.name, config.LOG_LEVEL);
  const app = await buildApp(fn, {
    publisher: createDaprPublisher({ daprHost: config.DAPR_HOST, daprPort: config.DAPR_HTTP_PORT }),
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
      (err) => {
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
