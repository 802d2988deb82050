/**
 * Zipkin's server on loopback, as a child process: the local trace store. Spans stay in its memory
 * (they are gone when it stops); its UI and API are on the same port.
 */
import { ensureZipkin } from "./provision.ts";
import { freePort, httpOk, startProcess, waitUntil, type ManagedProcess } from "./process.ts";

export interface Zipkin {
  /** Its UI and API (…/zipkin/, …/api/v2/…). */
  url: string;
  /** Where spans are reported (Zipkin v2 JSON): daprd's zipkin exporter and the functions' reporter. */
  spansUrl: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export const startZipkin = async (opts: { port?: number; logFile: string; pidDir: string }): Promise<Zipkin> => {
  const { java, jar } = await ensureZipkin();
  const port = opts.port ?? (await freePort());
  const process = startProcess({
    name: "zipkin",
    command: java,
    args: [
      "-Xms64m",
      "-Xmx384m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-jar",
      jar,
      `--armeria.ports[0].port=${port}`,
      "--armeria.ports[0].ip=127.0.0.1",
      "--armeria.ports[0].protocols=http",
    ],
    logFile: opts.logFile,
    pidDir: opts.pidDir,
    env: { ...globalThis.process.env, STORAGE_TYPE: "mem", MEM_MAX_SPANS: "200000", SELF_TRACING_ENABLED: "false" },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(`Zipkin on ${url}`, httpOk(`${url}/health`), { process, timeoutMs: 90_000, intervalMs: 500 });
  } catch (err) {
    await process.stop();
    throw err;
  }
  return { url, spansUrl: `${url}/api/v2/spans`, process, stop: () => process.stop() };
};
