/**
 * The function's calls to its sidecar's HTTP API: one keep-alive connection
 * pool per process, plain `node:http` (the sidecar is on loopback, so the
 * cost of a call is the client's own: Node's fetch spent about a fifth of
 * task-api's CPU on its streams). Every call carries `dapr-api-token` when
 * the sidecar was started with DAPR_API_TOKEN, so a call without it is
 * refused (401) by the sidecar. Every call also carries the trace it is made in
 * (`traceparent`, `tracestate`), so daprd's spans of the call join it.
 */
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { currentTrace, traceHeaders, type TraceContext } from "../trace.ts";

export interface SidecarAddress {
  daprHost: string;
  daprPort: number;
  /** DAPR_API_TOKEN: the token the sidecar requires on its API. */
  apiToken?: string | undefined;
}

export interface SidecarResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The sidecar could not be reached, or did not answer in time: nothing is known of the call's outcome. */
export class SidecarUnreachable extends Error {
  override readonly name = "SidecarUnreachable";
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export const sidecarHeaders = (sidecar: SidecarAddress): Record<string, string> => (sidecar.apiToken ? { "dapr-api-token": sidecar.apiToken } : {});

export const callSidecar = (
  sidecar: SidecarAddress,
  method: string,
  path: string,
  opts: {
    body?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
    /** The trace the call belongs to: the current one unless given; null for none. */
    trace?: TraceContext | null;
  } = {},
): Promise<SidecarResponse> =>
  new Promise((resolve, reject) => {
    const trace = opts.trace === undefined ? currentTrace() : (opts.trace ?? undefined);
    const headers: Record<string, string | number> = { ...traceHeaders(trace), ...opts.headers, ...sidecarHeaders(sidecar) };
    if (opts.body !== undefined) headers["content-length"] = Buffer.byteLength(opts.body);
    const req = request({ host: sidecar.daprHost, port: sidecar.daprPort, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (err) => reject(new SidecarUnreachable(`${method} ${path}: ${err.message}`, { cause: err })));
    });
    const timeoutMs = opts.timeoutMs ?? 10_000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => reject(new SidecarUnreachable(`${method} ${path}: ${err.message}`, { cause: err })));
    req.end(opts.body);
  });

export const sidecarUrl = (sidecar: SidecarAddress, path: string): string => `http://${sidecar.daprHost}:${sidecar.daprPort}${path}`;
