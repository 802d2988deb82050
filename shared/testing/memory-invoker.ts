/** An in-process Invoker for unit tests: answers service invocations from a handler and records each call. */
import type { Invoker, InvokeResult } from "../host/invoke.ts";

export interface InvokeCall {
  appId: string;
  path: string;
  method: string;
  body: unknown;
  headers: Record<string, string>;
}

export class MemoryInvoker implements Invoker {
  readonly calls: InvokeCall[] = [];

  constructor(private readonly answer: (call: InvokeCall) => InvokeResult | Promise<InvokeResult> = () => ({ status: 404, body: undefined })) {}

  async invoke(appId: string, path: string, request: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<InvokeResult> {
    const call: InvokeCall = {
      appId,
      path: `/${path.replace(/^\//, "")}`,
      method: request.method ?? "GET",
      body: request.body,
      headers: request.headers ?? {},
    };
    this.calls.push(call);
    return this.answer(call);
  }
}
