/**
 * Renders the kustomize overlays without a cluster or kubectl: a small Go program on kustomize's
 * own engine (sigs.k8s.io/kustomize/api, the one kustomize v5 and `kubectl kustomize` run),
 * built once from the Go module proxy and cached outside the clone, like daprd.
 */
import { execFile as execFileCb } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import type { KubeObject } from "../../shared/kubernetes.ts";
import { cacheRoot } from "../stack/provision.ts";
import { repoRoot } from "../stack/paths.ts";

const execFile = promisify(execFileCb);

/** The kustomize API module (go.mod); kustomize v5.8.2 is built on it. */
export const KUSTOMIZE_API_VERSION = "v0.21.2";

const RENDER_SRC = join(repoRoot, "tools/manifests/render");
const RENDER_FILES = ["go.mod", "go.sum", "main.go"];

/** A Kubernetes object as rendered: only what every object has is typed here. */
export type K8sObject = KubeObject;

const say = (line: string) => process.stderr.write(`[manifests] ${line}\n`);

const onPath = (command: string): string | undefined => {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
};

const sourceHash = (): string => {
  const h = createHash("sha256");
  for (const f of RENDER_FILES) h.update(f).update(readFileSync(join(RENDER_SRC, f)));
  return h.digest("hex").slice(0, 12);
};

let building: Promise<string> | undefined;

/** The renderer binary: cached by the hash of its sources, built with Go on first use. */
export const ensureRenderer = (): Promise<string> => {
  building ??= buildRenderer().finally(() => {
    building = undefined;
  });
  return building;
};

const buildRenderer = async (): Promise<string> => {
  const dir = join(cacheRoot(), `manifest-render-${KUSTOMIZE_API_VERSION}-${sourceHash()}`);
  const binary = join(dir, "render");
  if (existsSync(binary)) return binary;

  const go = onPath("go");
  if (!go) throw new Error("go not found: install Go 1.26+ to build the manifest renderer (kustomize, from the Go module proxy)");
  say(`building the manifest renderer (kustomize API ${KUSTOMIZE_API_VERSION}) into ${dir} (first run only)`);
  const started = Date.now();
  mkdirSync(dir, { recursive: true });
  // Test files in other processes may build at once: each writes its own file, the rename is atomic.
  const partial = `${binary}.${process.pid}-${randomUUID()}.partial`;
  await execFile(go, ["build", "-mod=readonly", "-trimpath", "-ldflags", "-s -w", "-o", partial, "."], {
    cwd: RENDER_SRC,
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "", GOTOOLCHAIN: "local" },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stderr?: string }) => {
    rmSync(partial, { force: true });
    throw new Error(`go build of the manifest renderer failed:\n${err.stderr ?? ""}`);
  });
  renameSync(partial, binary);
  say(`manifest renderer built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return binary;
};

const runRenderer = async (args: string[]): Promise<unknown[]> => {
  const binary = await ensureRenderer();
  const { stdout } = await execFile(binary, args, { maxBuffer: 256 * 1024 * 1024 }).catch((err: { stderr?: string }) => {
    throw new Error(`render ${args.join(" ")} failed:\n${err.stderr ?? ""}`);
  });
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed)) throw new Error(`render ${args.join(" ")}: expected a JSON array`);
  return parsed;
};

const isK8sObject = (value: unknown): value is K8sObject => {
  if (typeof value !== "object" || value === null) return false;
  const o = value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  return typeof o.apiVersion === "string" && typeof o.kind === "string" && typeof o.metadata?.name === "string";
};

/** `kustomize build <dir>` as objects. */
export const renderKustomization = async (dir: string): Promise<K8sObject[]> => {
  const docs = await runRenderer(["build", dir]);
  return docs.map((doc, i) => {
    if (!isK8sObject(doc)) throw new Error(`${dir}: rendered document ${i} has no apiVersion, kind or metadata.name`);
    return doc;
  });
};

/** Every YAML document of the files, parsed. */
export const readYamlDocuments = (files: string[]): Promise<unknown[]> => runRenderer(["yaml", ...files]);
