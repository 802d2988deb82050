/**
 * Rendered objects checked by a real API server: kube-apiserver v1.36 with the CRDs of KEDA, Dapr
 * and Strimzi installed and KEDA's admission webhooks registered, every object applied with a
 * server-side dry run. The server's own validation (schemas, CEL rules, defaulting, unknown
 * fields) and KEDA's admission decide; nothing is stored.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeApiError, type KubeApi, type KubeObject } from "../../shared/kubernetes.ts";
import { devControlPlaneDir, findRunningControlPlane, startControlPlane } from "../stack/control-plane.ts";
import { defaultDataDir } from "../stack/paths.ts";

const FIELD_MANAGER = "validate-manifests";

export interface ManifestServer {
  api: KubeApi;
  /** Where it came from, for the report: started for this run, or the one `npm run dev -- --autoscale` runs. */
  origin: string;
  stop(): Promise<void>;
}

/**
 * The running control plane of `npm run dev -- --autoscale` if there is one (it has the CRDs and
 * webhooks already), otherwise a new one in admission mode (API server, etcd, KEDA's webhooks),
 * stopped by `stop()`.
 */
export const connectManifestServer = async (opts: { reuse?: boolean; log?: (line: string) => void } = {}): Promise<ManifestServer> => {
  const devDir = devControlPlaneDir(defaultDataDir());
  const running = opts.reuse === false ? undefined : await findRunningControlPlane(devDir);
  if (running) return { api: running, origin: `the control plane of npm run dev (${devDir})`, stop: async () => running.close() };

  const dir = mkdtempSync(join(tmpdir(), "task-events-manifests-"));
  try {
    const controlPlane = await startControlPlane({
      dir,
      logDir: join(dir, "logs"),
      pidDir: join(dir, "pids"),
      mode: "admission",
      ...(opts.log ? { log: opts.log } : {}),
    });
    return {
      api: controlPlane.api,
      origin: `a control plane started for this run (logs in ${join(dir, "logs")} until it stops)`,
      stop: async () => {
        await controlPlane.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n(logs in ${join(dir, "logs")})`);
  }
};

const idOf = (o: KubeObject) => `${o.kind}/${o.metadata.name}`;

/** At most this many requests at once: the API server shares two cores with everything else. */
const CONCURRENCY = 8;

const mapLimited = async <T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return results;
};

/**
 * Every object applied with dryRun=All and strict field validation; one line per object the
 * server refuses (`Kind/name: server: <the server's message>`) or accepts with a warning. Namespaces are created for real
 * first (a namespaced object cannot be admitted into a namespace that does not exist).
 */
export const serverProblems = async (api: KubeApi, objects: readonly KubeObject[]): Promise<string[]> => {
  const problemOf = async (object: KubeObject, dryRun: boolean): Promise<string | undefined> => {
    try {
      const { warnings } = await api.apply(object, { fieldManager: FIELD_MANAGER, dryRun });
      // A warning is the server accepting what it will not honour as written (a deprecated or
      // ignored field): it counts as a problem too.
      return warnings.length > 0 ? `${idOf(object)}: server warning: ${warnings.join("; ")}` : undefined;
    } catch (err) {
      if (err instanceof KubeApiError) return `${idOf(object)}: server: ${err.message}`;
      // Refused before any request: a kind the server does not serve, a namespaced object without a namespace.
      if (err instanceof Error && err.message.startsWith(`${idOf(object)}:`)) return err.message;
      throw err;
    }
  };
  const namespaces = objects.filter((o) => o.kind === "Namespace");
  const others = objects.filter((o) => o.kind !== "Namespace");
  const problems = await mapLimited(namespaces, (o) => problemOf(o, false));
  problems.push(...(await mapLimited(others, (o) => problemOf(o, true))));
  return problems.filter((p): p is string => p !== undefined);
};
