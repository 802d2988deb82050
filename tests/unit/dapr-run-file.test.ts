import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEPLOYED_FUNCTIONS, PUBSUB, Service } from "../../shared/catalog/names.ts";
import { LOCAL_APP_PORTS, PUBLIC_PORTS } from "../../shared/catalog/ports.ts";
import { RUN_CONFIG, RUN_FILE, RUN_FILE_VALUES, RUN_RESOURCES_DIR } from "../../tools/dapr-run/run-file.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

/**
 * The fields of Dapr's multi-app run file, version 1: the yaml tags of the Dapr CLI's run-file
 * structs (github.com/dapr/cli, pkg/runfileconfig/run_file_config.go: RunFileConfig, App,
 * ContainerConfiguration; pkg/standalone/run.go: RunConfig, SharedRunConfig), as of the CLI source
 * with `schedulerHostAddress` and `appChannelAddress` (CLI 1.14 and later; read at commit 00d425a of
 * run.go and 247bb48 of run_file_config.go). The Go module proxy does not serve github.com/dapr/cli,
 * so the list is carried here; when a copy of the module is in the Go module cache, the last test
 * compares it with the source. The CLI parses with yaml.v2, which ignores an unknown key: a typo
 * would silently do nothing, hence this test.
 */
const RUN_FILE_FIELDS = ["version", "name", "common", "apps"];
const SHARED_RUN_CONFIG = [
  "configFilePath",
  "appProtocol",
  "apiListenAddresses",
  "enableProfiling",
  "logLevel",
  "appMaxConcurrency",
  "placementHostAddress",
  "resourcesPath",
  "resourcesPaths",
  "appSSL",
  "maxBodySize",
  "readBufferSize",
  "enableAppHealthCheck",
  "appHealthCheckPath",
  "appHealthProbeInterval",
  "appHealthProbeTimeout",
  "appHealthThreshold",
  "enableApiLogging",
  "runtimePath",
  "env",
  "daprdLogDestination",
  "appLogDestination",
  "schedulerHostAddress",
];
const RUN_CONFIG_FIELDS = [
  "appID",
  "appChannelAddress",
  "appPort",
  "daprHTTPPort",
  "daprGRPCPort",
  "profilePort",
  "command",
  "metricsPort",
  "unixDomainSocket",
  "daprInternalGRPCPort",
];
const CONTAINER_CONFIGURATION = ["containerImage", "containerImagePullPolicy", "createService"];
const COMMON_FIELDS = SHARED_RUN_CONFIG;
const APP_FIELDS = [...SHARED_RUN_CONFIG, ...RUN_CONFIG_FIELDS, ...CONTAINER_CONFIGURATION, "appDirPath"];
const LOG_DESTINATIONS = ["console", "file", "fileAndConsole"];

interface App {
  appID?: string;
  appDirPath?: string;
  appPort?: number;
  command?: string[];
  env?: Record<string, string>;
  [field: string]: unknown;
}
interface RunFile {
  version?: number;
  common?: Record<string, unknown>;
  apps?: App[];
  [field: string]: unknown;
}

const runFile = parse(readFileSync(join(repoRoot, RUN_FILE), "utf8")) as RunFile;
const apps = runFile.apps ?? [];
const unknownKeys = (object: object, known: readonly string[]) => Object.keys(object).filter((k) => !known.includes(k));

describe(`${RUN_FILE}: Dapr's multi-app run file`, () => {
  it("uses only fields the run-file format has, at the level it has them", () => {
    expect(unknownKeys(runFile, RUN_FILE_FIELDS)).toEqual([]);
    expect(runFile.version).toBe(1);
    expect(unknownKeys(runFile.common ?? {}, COMMON_FIELDS)).toEqual([]);
    for (const app of apps) expect(unknownKeys(app, APP_FIELDS), app.appID).toEqual([]);
  });

  it("runs every function of the catalog once, by its app-id, from its folder, on an app port of its own and its public port", () => {
    expect(new Set(apps.map((a) => a.appPort)).size, "app ports collide on one machine").toBe(apps.length);
    expect(apps.map((a) => a.appID).sort()).toEqual([...DEPLOYED_FUNCTIONS].sort());
    for (const app of apps) {
      const id = app.appID as (typeof Service)[keyof typeof Service];
      expect(app.appDirPath).toBe(`functions/${id}`);
      expect(existsSync(join(repoRoot, app.appDirPath!, "main.ts")), `${app.appDirPath}/main.ts`).toBe(true);
      expect(app.appPort, id).toBe(LOCAL_APP_PORTS[id]);
      expect((app as { env?: Record<string, string> }).env?.["PUBLIC_PORT"], id).toBe(PUBLIC_PORTS[id] === undefined ? undefined : String(PUBLIC_PORTS[id]));
      // The CLI runs the command in appDirPath; tsx resolves from the repository's node_modules.
      expect(app.command).toEqual(["node", "--import", "tsx", "main.ts"]);
    }
  });

  it("gives every app dapr/local's resources and configuration, as concrete copies that exist", () => {
    const common = runFile.common ?? {};
    expect(common["resourcesPaths"]).toEqual([RUN_RESOURCES_DIR]);
    expect(common["configFilePath"]).toBe(RUN_CONFIG);
    for (const app of apps) expect(app["resourcesPaths"] ?? app["resourcesPath"] ?? app["configFilePath"], app.appID).toBeUndefined();
    expect(existsSync(join(repoRoot, RUN_CONFIG))).toBe(true);
    const local = readdirSync(join(repoRoot, "dapr/local/resources"))
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    expect(readdirSync(join(repoRoot, RUN_RESOURCES_DIR)).sort()).toEqual(local);
    for (const file of local) {
      const copy = readFileSync(join(repoRoot, RUN_RESOURCES_DIR, file), "utf8");
      expect(copy, `${file} has every placeholder filled in`).not.toMatch(/\{\{[A-Z_]+\}\}/);
    }
    const config = readFileSync(join(repoRoot, RUN_CONFIG), "utf8");
    expect(config).not.toMatch(/\{\{[A-Z_]+\}\}/);
    expect(parse(config)).toMatchObject({ kind: "Configuration", spec: { tracing: { samplingRate: "0" } } });
  });

  it("points the pub/sub component and lag-dashboard at the same Kafka", () => {
    const pubsub = parse(readFileSync(join(repoRoot, RUN_RESOURCES_DIR, "pubsub.yaml"), "utf8")) as {
      metadata: { name: string };
      spec: { metadata: { name: string; value: string }[] };
    };
    expect(pubsub.metadata.name).toBe(PUBSUB);
    const brokers = pubsub.spec.metadata.find((m) => m.name === "brokers")?.value;
    expect(brokers).toBe(RUN_FILE_VALUES["KAFKA_BROKERS"]);
    expect(apps.find((a) => a.appID === Service.LagDashboard)?.env?.["KAFKA_BROKERS"]).toBe(brokers);
  });

  it("asks the sidecars for the app health check on /healthz, with log destinations the CLI accepts", () => {
    const common = runFile.common ?? {};
    expect(common).toMatchObject({ appProtocol: "http", enableAppHealthCheck: true, appHealthCheckPath: "/healthz" });
    for (const key of ["appLogDestination", "daprdLogDestination"]) expect(LOG_DESTINATIONS).toContain(common[key]);
  });
});
