import { join } from "node:path";
import { repoRoot } from "./paths.ts";
import { freePort, nodeArgs, portOpen, startProcess, waitUntil, type ManagedProcess } from "./process.ts";
import type { CosmosStats } from "./cosmos-cost.ts";

/**
 * The key of the Cosmos DB emulator, published by Microsoft for local use.
 * The local server accepts any key; production reads COSMOS_KEY from a secret.
 */
export const LOCAL_COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

export interface LocalCosmos {
  endpoint: string;
  key: string;
  /** Where the server serves the requests it counted, by operation (readCosmosStats). */
  statsUrl: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Requests the local server served so far, by operation (see cosmos-cost.ts). */
export const readCosmosStats = async (statsUrl: string): Promise<CosmosStats> => {
  const res = await fetch(statsUrl, { signal: AbortSignal.timeout(5_000) });
  return (await res.json()) as CosmosStats;
};

/**
 * A Cosmos DB compatible server (HTTPS, self-signed, keep-alive) in a process
 * of its own (tools/stack/cosmos-server.ts), so `@azure/cosmos` code runs
 * unchanged locally. Data lives in its memory.
 */
export const startCosmos = async (opts: { port: number; logFile: string; pidDir: string }): Promise<LocalCosmos> => {
  const statsPort = await freePort();
  const child = startProcess({
    name: "cosmos",
    command: process.execPath,
    args: nodeArgs(join(repoRoot, "tools/stack/cosmos-server.ts")),
    cwd: repoRoot,
    env: { ...process.env, COSMOS_PORT: String(opts.port), COSMOS_STATS_PORT: String(statsPort) },
    logFile: opts.logFile,
    pidDir: opts.pidDir,
  });
  const statsUrl = `http://127.0.0.1:${statsPort}/`;
  await waitUntil(`the Cosmos DB server on port ${opts.port}`, async () => (await portOpen(opts.port)()) && (await portOpen(statsPort)()), {
    process: child,
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  return {
    endpoint: `https://127.0.0.1:${opts.port}`,
    key: LOCAL_COSMOS_KEY,
    statsUrl,
    process: child,
    stop: () => child.stop(),
  };
};
