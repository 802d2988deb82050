/**
 * A small client of the Kubernetes API: requests with a bearer token over TLS pinned to the
 * cluster's CA, server-side apply (optionally as a dry run), status updates and watches. Read by
 * lag-dashboard (ScaledObjects, Deployments and HPAs; from a kubeconfig locally, with its service
 * account in a pod) and by the local control plane's tools.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";

/** What reaching an API server takes. */
export interface KubeAccess {
  server: string;
  token: string;
  /**
   * Where the token is kept when it is rotated (a pod's projected service-account token): read
   * again at most once a minute, as client-go does, so a long-running client never sends an
   * expired one. `token` is its value when the access was made.
   */
  tokenFile?: string;
  /** PEM of the CA that signed the API server's certificate. */
  ca: string;
}

/** The fields every object has; the rest is read with a schema where it matters. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
  };
  [field: string]: unknown;
}

const Kubeconfig = z.object({
  "current-context": z.string().min(1),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string() }) })),
  clusters: z.array(
    z.object({
      name: z.string(),
      cluster: z.object({
        server: z.string().url(),
        "certificate-authority": z.string().optional(),
        "certificate-authority-data": z.string().optional(),
      }),
    }),
  ),
  users: z.array(z.object({ name: z.string(), user: z.object({ token: z.string().min(1) }) })),
});

/**
 * Reads a kubeconfig file that authenticates with a bearer token (the kind the local control plane
 * writes, and what `kubectl create token` gives): its current context's server, CA and token.
 */
export const kubeAccessFromKubeconfig = (path: string): KubeAccess => {
  const config = Kubeconfig.parse(parse(readFileSync(path, "utf8")));
  const context = config.contexts.find((c) => c.name === config["current-context"])?.context;
  const cluster = config.clusters.find((c) => c.name === context?.cluster)?.cluster;
  const user = config.users.find((u) => u.name === context?.user)?.user;
  if (!context || !cluster || !user) throw new Error(`${path}: context ${config["current-context"]} names a missing cluster or user`);
  const caFile = cluster["certificate-authority"];
  const caData = cluster["certificate-authority-data"];
  const ca = caFile ? readFileSync(resolve(dirname(path), caFile), "utf8") : caData ? Buffer.from(caData, "base64").toString("utf8") : undefined;
  if (!ca) throw new Error(`${path}: cluster ${context.cluster} has no certificate authority`);
  return { server: cluster.server, token: user.token, ca };
};

/** Where the kubelet mounts a pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

const InClusterEnv = z.object({
  KUBERNETES_SERVICE_HOST: z.string().min(1, "is not set: not running in a pod"),
  KUBERNETES_SERVICE_PORT: z.coerce.number().int().min(1).max(65535),
});

/**
 * In a pod, with its service account: the API server from KUBERNETES_SERVICE_HOST/PORT, the token
 * and CA the kubelet mounts (the pod needs automountServiceAccountToken). `dir` is for tests.
 */
export const kubeAccessInCluster = (env: Record<string, string | undefined> = process.env, dir = SERVICE_ACCOUNT_DIR): KubeAccess => {
  const parsed = InClusterEnv.safeParse(env);
  if (!parsed.success) {
    throw new Error(`in-cluster access: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  }
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port } = parsed.data;
  const tokenFile = join(dir, "token");
  const read = (file: string) => {
    try {
      return readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new Error(
        `in-cluster access: cannot read ${file} (is automountServiceAccountToken off for this pod?): ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  // An IPv6 address needs brackets in a URL.
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return { server, token: read(tokenFile), tokenFile, ca: read(join(dir, "ca.crt")) };
};

/** The API server's answer to a failed request: its own message, reason and status code. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const Status = z.object({ message: z.string().optional(), reason: z.string().optional() });

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface ApplyOptions {
  /** `All`: the server validates, defaults and admits the object (webhooks included) but stores nothing. */
  dryRun?: boolean;
  fieldManager: string;
}

/** How old a token read from its file may get before it is read again. */
const TOKEN_REREAD_MS = 60_000;

export class KubeApi {
  private readonly agent: Agent;
  private readonly base: URL;
  private token: { value: string; readAt: number };
  /** Per group/version: resource name and scope of each kind (from API discovery). */
  private readonly discovered = new Map<string, Map<string, { resource: string; namespaced: boolean }>>();

  /** `tokenRereadMs`: how old a token read from `access.tokenFile` may get (a minute; tests shorten it). */
  constructor(
    readonly access: KubeAccess,
    private readonly options: { tokenRereadMs: number } = { tokenRereadMs: TOKEN_REREAD_MS },
  ) {
    this.base = new URL(access.server);
    this.token = { value: access.token, readAt: Date.now() };
    this.agent = new Agent({ ca: access.ca, keepAlive: true, maxSockets: 16 });
  }

  close(): void {
    this.agent.destroy();
  }

  /** The bearer token: from its file again when it is a minute old (the kubelet rotates it). */
  private bearer(): string {
    const file = this.access.tokenFile;
    if (file && Date.now() - this.token.readAt >= this.options.tokenRereadMs) {
      try {
        this.token = { value: readFileSync(file, "utf8").trim(), readAt: Date.now() };
      } catch {
        // Keep the last one; the kubelet writes the file atomically, so this is rare and brief.
        this.token = { value: this.token.value, readAt: Date.now() };
      }
    }
    return this.token.value;
  }

  /** One request; a non-2xx answer throws a KubeApiError with the server's message. */
  async request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<unknown> {
    return (await this.requestWithWarnings(method, path, body, contentType)).body;
  }

  /** A request and the warnings the server sent with its answer (deprecations, ignored fields…). */
  async requestWithWarnings(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<{ body: unknown; warnings: string[] }> {
    const { status, text, warnings } = await this.send(method, path, body, contentType);
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (status >= 200 && status < 300) return { body: parsed, warnings };
    const detail = Status.safeParse(parsed);
    throw new KubeApiError(status, detail.data?.reason ?? "", detail.data?.message ?? (text || `HTTP ${status}`));
  }

  /** True when the API server reports itself ready (/readyz). */
  async ready(): Promise<boolean> {
    return (await this.send("GET", "/readyz", undefined, "")).status === 200;
  }

  get(path: string): Promise<unknown> {
    return this.request("GET", path);
  }

  /** GET that answers undefined for 404. */
  async find(path: string): Promise<unknown> {
    try {
      return await this.get(path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** The URL path of an object (or of its collection, without a name), found through discovery. */
  async pathOf(apiVersion: string, kind: string, namespace: string | undefined, name?: string): Promise<string> {
    const { resource, namespaced } = await this.resourceOf(apiVersion, kind);
    const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    if (namespaced && !namespace) throw new Error(`${kind}/${name ?? ""}: ${kind} is namespaced, and no namespace was given`);
    const scope = namespaced ? `/namespaces/${namespace}` : "";
    return `${root}${scope}/${resource}${name ? `/${name}` : ""}`;
  }

  /** Server-side apply (force: this tool owns the fields it sets); the stored object and the server's warnings. */
  async apply(object: KubeObject, options: ApplyOptions): Promise<{ object: KubeObject; warnings: string[] }> {
    const path = await this.pathOf(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name);
    const query = new URLSearchParams({ fieldManager: options.fieldManager, force: "true", fieldValidation: "Strict" });
    if (options.dryRun) query.set("dryRun", "All");
    const { body, warnings } = await this.requestWithWarnings("PATCH", `${path}?${query}`, object, "application/apply-patch+yaml");
    return { object: body as KubeObject, warnings };
  }

  /** Replaces an object's status through its status subresource (a merge patch). */
  async patchStatus(path: string, status: Record<string, unknown>): Promise<void> {
    await this.request("PATCH", `${path}/status`, { status }, "application/merge-patch+json");
  }

  /**
   * Watches a collection from `resourceVersion` until `signal` aborts; resolves when the server
   * ends the stream (the caller lists again and re-watches).
   */
  async watch<T>(path: string, resourceVersion: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ watch: "true", resourceVersion, allowWatchBookmarks: "true", timeoutSeconds: "300" });
    await new Promise<void>((resolvePromise, reject) => {
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path: `${path}?${query}`,
          method: "GET",
          agent: this.agent,
          headers: { authorization: `Bearer ${this.bearer()}`, accept: "application/json" },
          signal,
        },
        (res) => {
          if ((res.statusCode ?? 0) >= 300) {
            res.resume();
            reject(new KubeApiError(res.statusCode ?? 0, "", `watch ${path}: HTTP ${res.statusCode}`));
            return;
          }
          let buffered = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffered += chunk;
            for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
              const line = buffered.slice(0, newline).trim();
              buffered = buffered.slice(newline + 1);
              if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
            }
          });
          res.on("end", () => resolvePromise());
          res.on("error", (err) => (signal.aborted ? resolvePromise() : reject(err)));
        },
      );
      req.on("error", (err) => (signal.aborted ? resolvePromise() : reject(err)));
      req.end();
    });
  }

  private async resourceOf(apiVersion: string, kind: string): Promise<{ resource: string; namespaced: boolean }> {
    const known = this.discovered.get(apiVersion)?.get(kind);
    if (known) return known;
    // Not cached, or cached before a CRD was installed: ask again.
    const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = (await this.find(root)) as { resources?: { name: string; kind: string; namespaced: boolean }[] } | undefined;
    const kinds = new Map<string, { resource: string; namespaced: boolean }>();
    for (const r of list?.resources ?? []) if (!r.name.includes("/")) kinds.set(r.kind, { resource: r.name, namespaced: r.namespaced });
    this.discovered.set(apiVersion, kinds);
    const found = kinds.get(kind);
    if (!found) throw new KubeApiError(404, "NotFound", `the server does not serve ${kind} in ${apiVersion}`);
    return found;
  }

  private send(method: string, path: string, body: unknown, contentType: string): Promise<{ status: number; text: string; warnings: string[] }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolvePromise, reject) => {
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path,
          method,
          agent: this.agent,
          timeout: 30_000,
          headers: {
            authorization: `Bearer ${this.bearer()}`,
            accept: "application/json",
            ...(payload === undefined ? {} : { "content-type": contentType, "content-length": Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          // Warning headers are `299 - "text"` (RFC 7234); the text is what matters.
          const header = res.headers["warning"];
          const warnings = (Array.isArray(header) ? header : header ? [header] : []).map((w) => w.replace(/^\d{3} \S+ "(.*)"$/, "$1"));
          res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, text, warnings }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}
