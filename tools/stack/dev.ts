/**
 * `npm run dev`: the whole local stack and every function, until Ctrl-C.
 */
import { defaultDataDir } from "./paths.ts";
import { discoverFunctions, startFunction, type RunningFunction } from "./functions.ts";
import { startStack } from "./stack.ts";

const say = (line: string) => process.stdout.write(`${line}\n`);

const main = async () => {
  const started = Date.now();
  const stack = await startStack({ dataDir: defaultDataDir(), ports: "dev", log: (l) => say(`[stack] ${l}`) });
  const functions: RunningFunction[] = [];
  let stopping = false;
  const stopAll = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping functions, sidecars, scheduler, Kafka…`);
    for (const f of functions.reverse()) await f.stop().catch(() => undefined);
    await stack.stop();
    say("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stopAll("SIGINT"));
  process.on("SIGTERM", () => void stopAll("SIGTERM"));

  try {
    for (const name of discoverFunctions()) functions.push(await startFunction(stack, name));
  } catch (err) {
    await stopAll("start-up failed");
    throw err;
  }

  const rows: [string, string][] = [
    ["Kafka", `${stack.kafkaBrokers}${stack.externalKafka ? " (KAFKA_BROKERS)" : ""}`],
    ["Dapr scheduler", stack.schedulerAddress],
    ["daprd", stack.daprOrigin],
    ["Cosmos DB (local)", stack.cosmosEndpoint],
    ...functions.map((f): [string, string] => [f.name, `app http://127.0.0.1:${f.appPort}  dapr http://127.0.0.1:${f.sidecar.httpPort}`]),
    ["logs", stack.logDir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  say(`\nready in ${((Date.now() - started) / 1000).toFixed(1)} s${functions.length === 0 ? " (no functions under functions/ yet)" : ""}:`);
  for (const [k, v] of rows) say(`  ${k.padEnd(width)}  ${v}`);
  say("\nCtrl-C stops everything.");
};

main().catch((err: unknown) => {
  process.stderr.write(`npm run dev failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
