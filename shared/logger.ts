import { pino, type Logger } from "pino";

export type { Logger };

/** One JSON logger per process; `service` is on every line. */
export const createLogger = (service: string, level: string = "info"): Logger =>
  pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime });
