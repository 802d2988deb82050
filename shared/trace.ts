/**
 * W3C trace context, carried implicitly: the host runs each request, each delivered event and each
 * outbox entry inside its trace (AsyncLocalStorage), so what the work logs, publishes and calls
 * carries the same trace id without a handler passing anything along.
 *
 * With a span reporter configured (TRACING_ZIPKIN_URL), the host also reports a span of its own for
 * each request, handled event and published event (Zipkin v2 JSON), so daprd's spans and ours form
 * one tree. Without one, nothing is recorded: the context is only carried (a header string and a
 * trace id made up where none came in).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomFillSync } from "node:crypto";
import { Agent, request } from "node:http";

export interface TraceContext {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits: the span the current work runs in (the caller's, when none of ours is recorded). */
  spanId: string;
  sampled: boolean;
  /** The `tracestate` that came with the context, passed on untouched. */
  traceState?: string | undefined;
}

const storage = new AsyncLocalStorage<TraceContext>();

/** The trace the current work runs in, if any. */
export const currentTrace = (): TraceContext | undefined => storage.getStore();

/** Runs `work` inside `trace` (and what it starts, awaits or schedules). */
export const inTrace = <T>(trace: TraceContext | undefined, work: () => T): T => (trace ? storage.run(trace, work) : work());

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
/** What a `tracestate` may hold (printable ASCII, at most 512 characters): anything else is dropped, never sent on as a header. */
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;
const ZERO_TRACE_ID = "0".repeat(32);
const ZERO_SPAN_ID = "0".repeat(16);

/**
 * A `traceparent` header or CloudEvent attribute (version 00, or a later one read as 00); undefined
 * for anything else (an invalid one starts a new trace, as the W3C recommendation says).
 */
export const parseTraceparent = (value: unknown, traceState?: unknown): TraceContext | undefined => {
  if (typeof value !== "string" || value.length < 55 || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, more] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && more !== undefined) || traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  return {
    traceId,
    spanId,
    sampled: (parseInt(flags, 16) & 1) === 1,
    ...(typeof traceState === "string" && TRACESTATE.test(traceState) ? { traceState } : {}),
  };
};

export const formatTraceparent = (trace: TraceContext): string => `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? "01" : "00"}`;

/** The trace as CloudEvent attributes (Dapr's names: `traceparent`, `traceid` (the same), `tracestate`). */
export const traceAttributes = (trace: TraceContext): { traceparent: string; traceid: string; tracestate?: string } => {
  const traceparent = formatTraceparent(trace);
  return { traceparent, traceid: traceparent, ...(trace.traceState ? { tracestate: trace.traceState } : {}) };
};

/** The trace as HTTP headers for a call out of the work it belongs to (none without a trace). */
export const traceHeaders = (trace: TraceContext | undefined): Record<string, string> =>
  trace ? { traceparent: formatTraceparent(trace), ...(trace.traceState ? { tracestate: trace.traceState } : {}) } : {};

// Random ids from a pooled buffer: one fill per 256 ids.
const pool = Buffer.alloc(8 * 512);
let poolAt = pool.length;
const randomHex = (bytes: 8 | 16): string => {
  if (poolAt + bytes > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const hex = pool.toString("hex", poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
};

/** A new trace, not sampled: for work that came without one while no spans are recorded. */
export const newTrace = (): TraceContext => ({ traceId: randomHex(16), spanId: randomHex(8), sampled: false });

// ---------------------------------------------------------------- spans

export type SpanKind = "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER";

/** A span of ours being timed; `end` reports it (a no-op when nothing is recorded). */
export interface Span {
  readonly trace: TraceContext;
  /** Tags to add (http.status_code, outcome…); `error` marks the span failed. */
  end(tags?: Record<string, string | number | undefined>): void;
}

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: SpanKind;
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  remoteEndpoint?: { serviceName: string };
  tags: Record<string, string>;
}

/** Where spans go: POSTed to Zipkin's v2 API in batches, at most every `flushMs`. */
class ZipkinReporter {
  private pending: ZipkinSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 2 });
  private readonly url: URL;
  private warned = false;

  constructor(
    url: string,
    readonly serviceName: string,
    private readonly flushMs = 500,
  ) {
    this.url = new URL(url);
  }

  report(span: ZipkinSpan): void {
    this.pending.push(span);
    if (this.pending.length >= 500) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs).unref();
  }

  /** Sends what is pending; never throws (a trace store out of reach loses spans, not work). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const spans = this.pending;
    this.pending = [];
    if (spans.length === 0) return Promise.resolve();
    const body = JSON.stringify(spans);
    return new Promise((resolve) => {
      const req = request(
        this.url,
        { method: "POST", agent: this.agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on("end", resolve);
          if ((res.statusCode ?? 0) >= 300) this.warn(`HTTP ${res.statusCode}`);
        },
      );
      req.setTimeout(5_000, () => req.destroy(new Error("no answer within 5 s")));
      req.on("error", (err) => {
        this.warn(err.message);
        resolve();
      });
      req.end(body);
    });
  }

  private warn(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    process.stderr.write(`${this.serviceName}: spans to ${this.url.origin} lost (${reason}); further losses are not reported\n`);
  }
}

let reporter: ZipkinReporter | undefined;

/** Reports this process's spans to Zipkin's v2 API at `url` (…/api/v2/spans) under `serviceName`. */
export const reportSpansTo = (url: string, serviceName: string): void => {
  reporter = new ZipkinReporter(url, serviceName);
};

/** Stops recording spans (what is pending is sent first). */
export const stopReportingSpans = async (): Promise<void> => {
  const last = reporter;
  reporter = undefined;
  await last?.flush();
};

/** True when this process records spans. */
export const tracingOn = (): boolean => reporter !== undefined;

/** Sends the spans not yet sent (at shutdown). */
export const flushSpans = (): Promise<void> => reporter?.flush() ?? Promise.resolve();

/**
 * A span of ours, a child of `parent` (a new trace when there is none). With no reporter the work
 * runs in the parent's context as it came (a new trace id only when none came), and nothing is timed.
 */
export const startSpan = (name: string, kind: SpanKind, parent: TraceContext | undefined, tags: Record<string, string> = {}, remoteService?: string): Span => {
  const sink = reporter;
  if (!sink || (parent && !parent.sampled)) return { trace: parent ?? newTrace(), end() {} };
  const trace: TraceContext = {
    traceId: parent?.traceId ?? randomHex(16),
    spanId: randomHex(8),
    sampled: true,
    ...(parent?.traceState ? { traceState: parent.traceState } : {}),
  };
  const startedMs = performance.timeOrigin + performance.now();
  return {
    trace,
    end(more = {}) {
      const endedMs = performance.timeOrigin + performance.now();
      const all: Record<string, string> = { ...tags };
      for (const [k, v] of Object.entries(more)) if (v !== undefined) all[k] = String(v);
      sink.report({
        traceId: trace.traceId,
        id: trace.spanId,
        ...(parent ? { parentId: parent.spanId } : {}),
        name,
        kind,
        timestamp: Math.round(startedMs * 1000),
        duration: Math.max(1, Math.round((endedMs - startedMs) * 1000)),
        localEndpoint: { serviceName: sink.serviceName },
        ...(remoteService ? { remoteEndpoint: { serviceName: remoteService } } : {}),
        tags: all,
      });
    },
  };
};

/** Runs `work` in a span of ours (child of the current trace), ended with its outcome. */
export const inSpan = async <T>(name: string, kind: SpanKind, tags: Record<string, string>, work: () => Promise<T>, remoteService?: string): Promise<T> => {
  const span = startSpan(name, kind, currentTrace(), tags, remoteService);
  try {
    const result = await inTrace(span.trace, work);
    span.end();
    return result;
  } catch (err) {
    span.end({ error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
    throw err;
  }
};
