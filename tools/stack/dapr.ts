import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { env as processEnv } from "node:process";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { repoRoot } from "./paths.ts";
import { freePort, httpOk, startProcess, waitUntil, type ManagedProcess } from "./process.ts";

const LOCAL = join(repoRoot, "dapr/local");

/**
 * Writes dapr/local (resources + config) into `dir` with its {{NAME}} values
 * filled in; an unknown placeholder is an error, not an empty string. With
 * `zipkinSpansUrl`, the configuration turns daprd's tracing on: every request
 * sampled, spans exported to that Zipkin.
 */
export const renderDaprResources = (
  dir: string,
  values: Record<string, string>,
  opts: { zipkinSpansUrl?: string | undefined } = {},
): { resourcesPath: string; configFile: string } => {
  const fill = (file: string) =>
    readFileSync(file, "utf8").replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`${file}: no value for {{${name}}}`);
      return value;
    });
  const resourcesPath = join(dir, "resources");
  mkdirSync(resourcesPath, { recursive: true });
  for (const f of readdirSync(join(LOCAL, "resources")).filter((f) => f.endsWith(".yaml"))) {
    writeFileSync(join(resourcesPath, f), fill(join(LOCAL, "resources", f)));
  }
  const configFile = join(dir, "config.yaml");
  writeFileSync(configFile, opts.zipkinSpansUrl ? withTracing(fill(join(LOCAL, "config.yaml")), opts.zipkinSpansUrl) : fill(join(LOCAL, "config.yaml")));
  return { resourcesPath, configFile };
};

/** The configuration with daprd's tracing on, exporting to Zipkin. */
export const withTracing = (configYaml: string, zipkinSpansUrl: string): string => {
  const config = parse(configYaml) as { spec?: Record<string, unknown> };
  config.spec = { ...config.spec, tracing: { samplingRate: "1", zipkin: { endpointAddress: zipkinSpansUrl } } };
  return stringify(config);
};

const sidecarAppId = async (httpPort: number, apiToken: string | undefined): Promise<string | undefined> => {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1.0/metadata`, {
    headers: apiToken ? { "dapr-api-token": apiToken } : {},
    signal: AbortSignal.timeout(2_000),
  });
  return res.ok ? ((await res.json()) as { id?: string }).id : undefined;
};

export interface SchedulerOptions {
  binary: string;
  dataDir: string;
  logFile: string;
  pidDir: string;
  port: number;
}

/** The Dapr scheduler (backs the Jobs API), with its embedded etcd on free loopback ports. */
export const startScheduler = async (opts: SchedulerOptions): Promise<{ address: string; process: ManagedProcess }> => {
  const [healthPort, metricsPort, etcdClientPort, etcdPeerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const process = startProcess({
    name: "scheduler",
    command: opts.binary,
    args: [
      "--mode",
      "standalone",
      "--listen-address",
      "127.0.0.1",
      "--port",
      String(opts.port),
      "--override-broadcast-host-port",
      `127.0.0.1:${opts.port}`,
      "--healthz-listen-address",
      "127.0.0.1",
      "--healthz-port",
      String(healthPort),
      "--metrics-listen-address",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
      "--etcd-data-dir",
      opts.dataDir,
      "--etcd-client-listen-address",
      "127.0.0.1",
      "--etcd-client-port",
      String(etcdClientPort),
      "--etcd-initial-cluster",
      `dapr-scheduler-server-0=http://127.0.0.1:${etcdPeerPort}`,
      "--log-level",
      "warn",
    ],
    logFile: opts.logFile,
    pidDir: opts.pidDir,
  });
  await waitUntil("the Dapr scheduler", httpOk(`http://127.0.0.1:${healthPort}/healthz`), { process, timeoutMs: 60_000 });
  return { address: `127.0.0.1:${opts.port}`, process };
};

export interface SidecarOptions {
  binary: string;
  appId: string;
  /** Names the process and its pid file: the app-id, or a copy's name when several run. */
  instance?: string;
  appPort: number;
  resourcesPath: string;
  configFile: string;
  schedulerAddress: string;
  logFile: string;
  pidDir: string;
  httpPort?: number;
  logLevel?: string;
  /** Probe the app's /healthz (the default); false for an app that serves none (the SDK's DaprServer). */
  appHealthCheck?: boolean;
  /** APP_API_TOKEN: sent on every call into the app (dapr-api-token). */
  appApiToken?: string;
  /** DAPR_API_TOKEN: required on every call to the sidecar's API but its health endpoint. */
  daprApiToken?: string;
  /** More environment for daprd (what a `secretstores.local.env` component reads). */
  env?: Record<string, string>;
}

export interface Sidecar {
  appId: string;
  httpPort: number;
  grpcPort: number;
  metricsPort: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * One daprd for one app. Resolves once the sidecar has loaded its components
 * and reached the app (its full health check passes), so subscriptions are live.
 */
/**
 * Sidecars opening the shared SQLite file at the same moment can find it locked while one of them
 * sets it up (`SQLITE_BUSY` on its first connection, which busyTimeout does not cover): such a
 * sidecar is started again, a few times.
 */
export const startSidecar = async (opts: SidecarOptions): Promise<Sidecar> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSidecarOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !/SQLITE_BUSY|database is locked/.test(err.message)) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
};

const startSidecarOnce = async (opts: SidecarOptions): Promise<Sidecar> => {
  const [httpPort, grpcPort, internalGrpcPort, metricsPort] = await Promise.all([opts.httpPort ?? freePort(), freePort(), freePort(), freePort()]);
  const process = startProcess({
    name: `daprd-${opts.instance ?? opts.appId}`,
    command: opts.binary,
    args: [
      "--mode",
      "standalone",
      "--app-id",
      opts.appId,
      "--app-port",
      String(opts.appPort),
      "--app-protocol",
      "http",
      "--app-channel-address",
      "127.0.0.1",
      "--dapr-listen-addresses",
      "127.0.0.1",
      "--dapr-http-port",
      String(httpPort),
      "--dapr-grpc-port",
      String(grpcPort),
      "--dapr-internal-grpc-port",
      String(internalGrpcPort),
      "--metrics-listen-address",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
      "--resources-path",
      opts.resourcesPath,
      "--config",
      opts.configFile,
      "--scheduler-host-address",
      opts.schedulerAddress,
      "--placement-host-address",
      "",
      ...(opts.appHealthCheck === false
        ? []
        : [
            "--enable-app-health-check",
            "--app-health-check-path",
            "/healthz",
            // An app busy under load answers late, not never: a 500 ms timeout (the default) marks it
            // unhealthy and turns service invocation away while it catches up. (Timeout < interval.)
            "--app-health-probe-interval",
            "2",
            "--app-health-probe-timeout",
            "1500",
          ]),
      "--dapr-graceful-shutdown-seconds",
      "5",
      "--log-level",
      opts.logLevel ?? "info",
    ],
    logFile: opts.logFile,
    pidDir: opts.pidDir,
    env: {
      ...processEnv,
      ...opts.env,
      ...(opts.appApiToken ? { APP_API_TOKEN: opts.appApiToken } : {}),
      ...(opts.daprApiToken ? { DAPR_API_TOKEN: opts.daprApiToken } : {}),
    },
  });
  try {
    // Ready, and really this sidecar: another process could have taken its port meanwhile.
    await waitUntil(
      `daprd for ${opts.appId}`,
      async () => (await httpOk(`http://127.0.0.1:${httpPort}/v1.0/healthz`)()) && (await sidecarAppId(httpPort, opts.daprApiToken)) === opts.appId,
      { process, timeoutMs: 60_000 },
    );
  } catch (err) {
    await process.stop();
    throw err;
  }
  return { appId: opts.appId, httpPort, grpcPort, metricsPort, process, stop: () => process.stop() };
};
