/** Dapr service invocation over the sidecar's HTTP API: the only way functions call each other. */
import { callSidecar, type SidecarAddress, type SidecarResponse } from "./sidecar.ts";

export interface InvokeResult {
  status: number;
  body: unknown;
}

export interface Invoker {
  invoke(appId: string, path: string, request?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<InvokeResult>;
}

export class InvokeError extends Error {
  override readonly name = "InvokeError";
}

export const createDaprInvoker = (opts: SidecarAddress & { timeoutMs?: number }): Invoker => ({
  async invoke(appId, path, request = {}) {
    let res: SidecarResponse;
    try {
      res = await callSidecar(opts, request.method ?? "GET", `/v1.0/invoke/${encodeURIComponent(appId)}/method/${path.replace(/^\//, "")}`, {
        headers: { ...(request.body === undefined ? {} : { "content-type": "application/json" }), ...request.headers },
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        timeoutMs: opts.timeoutMs ?? 10_000,
      });
    } catch (err) {
      throw new InvokeError(`invoke ${appId} ${path}: sidecar unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const text = res.body;
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body };
  },
});
