import { pino, type Logger } from "pino";
import { currentTrace } from "./trace.ts";

export type { Logger };

/** The trace the line was logged in (W3C ids), on every line logged inside one. */
const traceFields = (): { trace_id?: string; span_id?: string } => {
  const trace = currentTrace();
  return trace ? { trace_id: trace.traceId, span_id: trace.spanId } : {};
};

/** One JSON logger per process; `service` is on every line, `trace_id` and `span_id` on every line logged inside a trace. */
export const createLogger = (service: string, level: string = "info"): Logger =>
  pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime, mixin: traceFields });
