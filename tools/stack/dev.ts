/**
 * `npm run dev`: the whole local stack and every function, until Ctrl-C.
 * `npm run dev -- --autoscale`: the consumers start at zero and KEDA, on a local control plane,
 * scales them on their lag (tools/stack/autoscale.ts).
 * `npm run dev -- --tracing`: traces end to end, in a local Zipkin (daprd's spans and the functions' own).
 */
import { randomBytes } from "node:crypto";
import { mintToken } from "../../functions/task-api/auth.ts";
import { CONSUMERS, DEPLOYED_FUNCTIONS, Service } from "../../shared/catalog/names.ts";
import { DASHBOARD_PORT, TASK_API_PUBLIC_PORT } from "../../shared/catalog/ports.ts";
import { dashboardClusterEnv, startAutoscaling, type Autoscaling } from "./autoscale.ts";
import { devControlPlaneDir } from "./control-plane.ts";
import { devAuthSecret } from "./dev-auth.ts";
import { defaultDataDir } from "./paths.ts";
import { startFunction, type RunningFunction } from "./functions.ts";
import { startStack } from "./stack.ts";

const USAGE = "usage: npm run dev [-- [--autoscale] [--tracing]]";
const args = process.argv.slice(2);
for (const arg of args) {
  if (arg !== "--autoscale" && arg !== "--tracing") {
    process.stderr.write(`unknown option ${arg}\n${USAGE}\n`);
    process.exit(2);
  }
}
const autoscale = args.includes("--autoscale");
const tracing = args.includes("--tracing");

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Functions clients reach on a known port; the others take a free one. */
const FIXED_PUBLIC_PORTS: Record<string, number> = {
  [Service.TaskApi]: Number(process.env["PORT"] ?? TASK_API_PUBLIC_PORT),
  [Service.LagDashboard]: Number(process.env["DASHBOARD_PORT"] ?? DASHBOARD_PORT),
};
const DEV_USER = "dev-user";

const main = async () => {
  const started = Date.now();
  const dataDir = defaultDataDir();
  const stack = await startStack({ dataDir, ports: "dev", tracing, log: (l) => say(`[stack] ${l}`) });
  const authSecret = devAuthSecret(dataDir);
  const functions: RunningFunction[] = [];
  let autoscaling: Autoscaling | undefined;
  let stopping = false;
  const stopAll = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(
      `\n${signal}: stopping functions, sidecars, ${autoscaling ? "consumer replicas, the control plane, " : ""}scheduler, Kafka${tracing ? ", Zipkin" : ""}…`,
    );
    for (const f of functions.reverse()) await f.stop().catch(() => undefined);
    await autoscaling?.stop().catch(() => undefined);
    await stack.stop();
    say("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stopAll("SIGINT"));
  process.on("SIGTERM", () => void stopAll("SIGTERM"));

  try {
    if (autoscale) {
      autoscaling = await startAutoscaling(stack, {
        dir: devControlPlaneDir(dataDir),
        secrets: { jwtSecret: authSecret, appToken: randomBytes(32).toString("hex") },
        log: (l) => say(`[autoscale] ${l}`),
      });
    }
    const clusterEnv = autoscaling ? dashboardClusterEnv(autoscaling) : {};
    // With --autoscale the consumers are KEDA's to start (at zero now).
    const names = DEPLOYED_FUNCTIONS.filter((name) => !autoscaling || !(CONSUMERS as readonly string[]).includes(name));
    // In parallel; each settles on its own, so a failure still leaves the others stoppable.
    const results = await Promise.allSettled(
      names.map((name) => {
        const publicPort = FIXED_PUBLIC_PORTS[name];
        const env = { AUTH_JWT_SECRET: authSecret, ...(name === Service.LagDashboard ? clusterEnv : {}) };
        return startFunction(stack, name, { ...(publicPort ? { publicPort } : {}), env });
      }),
    );
    for (const r of results) if (r.status === "fulfilled") functions.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  } catch (err) {
    await stopAll("start-up failed");
    throw err;
  }

  const rows: [string, string][] = [
    ["Kafka", `${stack.kafkaBrokers}${stack.externalKafka ? " (KAFKA_BROKERS)" : ""}`],
    ["Dapr scheduler", stack.schedulerAddress],
    ["daprd", stack.daprOrigin],
    ["Cosmos DB (local)", stack.cosmosEndpoint],
    ...(stack.zipkin ? ([["Zipkin (traces)", `${stack.zipkin.url}/zipkin/`]] satisfies [string, string][]) : []),
    ...(autoscaling
      ? ([
          ["kube-apiserver", `${autoscaling.controlPlane.api.access.server}  (KUBECONFIG=${autoscaling.controlPlane.kubeconfig})`],
          ["KEDA metrics", autoscaling.controlPlane.kedaMetricsUrl ?? ""],
          ...CONSUMERS.map((c): [string, string] => [c, "0 replicas: KEDA starts it on lag (logs: <name>-<n>.log)"]),
        ] satisfies [string, string][])
      : []),
    ...functions.map((f): [string, string] => [
      f.name,
      `${FIXED_PUBLIC_PORTS[f.name] ? `http://127.0.0.1:${f.publicPort}  ` : ""}app (sidecar only) ${f.appPort}  dapr ${f.sidecar.httpPort}`,
    ]),
    ["logs", stack.logDir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  say(`\nready in ${((Date.now() - started) / 1000).toFixed(1)} s${functions.length === 0 ? " (no functions under functions/ yet)" : ""}:`);
  for (const [k, v] of rows) say(`  ${k.padEnd(width)}  ${v}`);
  if (functions.some((f) => f.name === Service.TaskApi)) {
    const token = await mintToken(authSecret, DEV_USER);
    say(`\na token for ${DEV_USER} (12 h; npm run token -- <user> for another), and a task created with it:`);
    say(`  export TOKEN=${token}`);
    say(`  curl -s -H "authorization: Bearer $TOKEN" -H "content-type: application/json" \\`);
    say(`    -d '{"title":"Water the plants"}' http://127.0.0.1:${FIXED_PUBLIC_PORTS[Service.TaskApi]}/tasks`);
  }
  say("\nCtrl-C stops everything.");
};

main().catch((err: unknown) => {
  process.stderr.write(`npm run dev failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
