import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { SidecarAddress } from "../../shared/host/sidecar.ts";
import type { Sidecar } from "./dapr.ts";
import { repoRoot } from "./paths.ts";
import { freePort, httpOk, nodeArgs, startProcess, waitUntil, type ManagedProcess } from "./process.ts";
import { sidecarFor, type StackInfo } from "./stack.ts";

export interface RunningFunction {
  name: string;
  /** Names its processes, pid files and logs: the function's name, or a copy's (`audit-service-2`). */
  instance: string;
  /** Where the app answers its sidecar (behind the app token). */
  appPort: number;
  /** Where a function with a public API (task-api, lag-dashboard) serves it. */
  publicPort: number;
  app: ManagedProcess;
  sidecar: Sidecar;
  /** The sidecar's API with the token it asks for (for tests that call it themselves). */
  sidecarAddress: SidecarAddress;
  /** The token the sidecar sends into the app (a caller without it is refused). */
  appApiToken: string;
  /** Starts the app process again (same ports, tokens and environment) after it stopped or was killed. */
  restartApp(): Promise<void>;
  /** Starts the sidecar again (same ports and tokens) after it was stopped. */
  restartSidecar(): Promise<void>;
  stop(): Promise<void>;
}

/** A fresh random token (app API token, Dapr API token): one per function per run. */
export const newToken = (): string => randomBytes(24).toString("base64url");

/** How a function and its sidecar find and trust each other: free ports and fresh tokens both ways. */
export interface Wiring {
  appPort: number;
  daprHttpPort: number;
  /** The token the sidecar sends into the app. */
  appApiToken: string;
  /** The token the app sends to the sidecar. */
  daprApiToken: string;
  /** The same, as the host reads it (HostConfig): a function's process environment, or parsed in the test process. */
  env: Record<string, string>;
}

/**
 * A new wiring for one function: startFunction hands it to a process as its environment,
 * runWithSidecar parses it in the test process; both hops authenticated, as in a cluster.
 */
export const newWiring = async (opts: { appPort?: number } = {}): Promise<Wiring> => {
  const appPort = opts.appPort ?? (await freePort());
  const daprHttpPort = await freePort();
  const appApiToken = newToken();
  const daprApiToken = newToken();
  return {
    appPort,
    daprHttpPort,
    appApiToken,
    daprApiToken,
    env: { APP_PORT: String(appPort), DAPR_HTTP_PORT: String(daprHttpPort), APP_API_TOKEN: appApiToken, DAPR_API_TOKEN: daprApiToken },
  };
};

/**
 * Runs functions/<name>/main.ts as its own process next to its own daprd, the
 * way it runs in a pod: the app on APP_PORT, the sidecar's HTTP API on DAPR_HTTP_PORT.
 * `entry` replaces functions/<name>/main.ts (tests run fixtures this way); `instance` names one
 * of several copies of a function (its processes and logs), whose app-id stays `name`.
 */
export const startFunction = async (
  stack: StackInfo,
  name: string,
  opts: { appPort?: number; publicPort?: number; env?: Record<string, string>; entry?: string; instance?: string; onAppReady?: () => void } = {},
): Promise<RunningFunction> => {
  const instance = opts.instance ?? name;
  const wiring = await newWiring(opts.appPort === undefined ? {} : { appPort: opts.appPort });
  const { appPort, daprHttpPort, appApiToken, daprApiToken } = wiring;
  const publicPort = opts.publicPort ?? (await freePort());
  const launch = () =>
    startProcess({
      name: instance,
      command: process.execPath,
      args: nodeArgs(opts.entry ?? join(repoRoot, "functions", name, "main.ts")),
      cwd: repoRoot,
      env: {
        ...process.env,
        ...wiring.env,
        PUBLIC_PORT: String(publicPort),
        KAFKA_BROKERS: stack.kafkaBrokers,
        COSMOS_ENDPOINT: stack.cosmosEndpoint,
        COSMOS_KEY: stack.cosmosKey,
        // The stack's Cosmos server is always the local one, with a self-signed certificate.
        COSMOS_ALLOW_SELF_SIGNED: "true",
        ...(stack.zipkin ? { TRACING_ZIPKIN_URL: stack.zipkin.spansUrl } : {}),
        ...opts.env,
      },
      logFile: join(stack.logDir, `${instance}.log`),
      pidDir: stack.pidDir,
    });
  const healthy = (app: ManagedProcess) => waitUntil(`${instance} on port ${appPort}`, httpOk(`http://127.0.0.1:${appPort}/healthz`), { process: app });
  const sidecar = () => sidecarFor(stack, name, appPort, { httpPort: daprHttpPort, instance, appApiToken, daprApiToken });
  const app = launch();
  try {
    await healthy(app);
    opts.onAppReady?.();
    const running: RunningFunction = {
      name,
      instance,
      appPort,
      publicPort,
      app,
      sidecar: await sidecar(),
      sidecarAddress: { daprHost: "127.0.0.1", daprPort: daprHttpPort, apiToken: daprApiToken },
      appApiToken,
      restartApp: async () => {
        await running.app.stop();
        running.app = launch();
        await healthy(running.app);
      },
      restartSidecar: async () => {
        await running.sidecar.stop();
        running.sidecar = await sidecar();
      },
      // The sidecar goes first so no new deliveries arrive while the app drains.
      // (A test may have replaced the sidecar or the app: the current ones are stopped.)
      stop: async () => {
        await running.sidecar.stop();
        await running.app.stop();
      },
    };
    return running;
  } catch (err) {
    await app.stop();
    throw err;
  }
};
