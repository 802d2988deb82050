/** Dapr service invocation over the sidecar's HTTP API: the only way functions call each other. */
import { sidecarHeaders, sidecarUrl, type SidecarAddress } from "./sidecar.ts";

export interface InvokeResult {
  status: number;
  body: unknown;
}

export interface Invoker {
  invoke(
    appId: string,
    path: string,
    request?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<InvokeResult>;
}

export class InvokeError extends Error {
  override readonly name = "InvokeError";
}

export const createDaprInvoker = (opts: SidecarAddress & { timeoutMs?: number }): Invoker => ({
  async invoke(appId, path, request = {}) {
    const url = sidecarUrl(opts, `/v1.0/invoke/${encodeURIComponent(appId)}/method/${path.replace(/^\//, "")}`);
    let res: Response;
    try {
      res = await fetch(url, {
        method: request.method ?? "GET",
        headers: { ...(request.body === undefined ? {} : { "content-type": "application/json" }), ...request.headers, ...sidecarHeaders(opts) },
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new InvokeError(`invoke ${appId} ${path}: sidecar unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body };
  },
});
