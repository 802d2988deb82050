import { currentTrace, traceAttributes } from "../trace.ts";
import { callSidecar, type SidecarAddress, type SidecarResponse } from "./sidecar.ts";

/**
 * The Dapr Jobs API (stable at /v1.0/jobs from Dapr 1.18) over the sidecar's
 * HTTP API. When a job is due the sidecar calls the app at POST /job/<name>
 * with the job's data; 2xx (or 404) marks it done. At least once, never early.
 *
 * Without a failure policy the scheduler retries a failed trigger 3 times, 1 s
 * apart, then drops the job: every job here carries one that retries every
 * JOB_RETRY_INTERVAL for JOB_RETRIES times (10 minutes), so an app briefly
 * unable to handle it does not lose it.
 *
 * A job scheduled inside a trace carries it in its data (`traceparent`, `tracestate` beside the
 * app's fields, when the data is an object): the host runs the job's callback in that trace.
 */
export interface Jobs {
  /** Creates or replaces the job `name`, due once at `dueTime` (RFC 3339; a past time means now). */
  schedule(name: string, job: { dueTime: string; data: unknown }): Promise<void>;
  /** Deletes the job; deleting a job that does not exist is not an error. */
  remove(name: string): Promise<void>;
}

/** The failure policy every job carries: retry the trigger every 10 s, 60 times. */
export const JOB_FAILURE_POLICY = { constant: { interval: "10s", maxRetries: 60 } } as const;

export class JobsError extends Error {
  override readonly name = "JobsError";
}

export const createDaprJobs = (opts: SidecarAddress & { timeoutMs?: number }): Jobs => {
  const call = async (name: string, init: { method: string; headers?: Record<string, string>; body?: string }, okStatuses: number[] = []) => {
    let res: SidecarResponse;
    try {
      res = await callSidecar(opts, init.method, `/v1.0/jobs/${encodeURIComponent(name)}`, { ...init, timeoutMs: opts.timeoutMs ?? 5_000 });
    } catch (err) {
      throw new JobsError(`job ${name}: sidecar unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const ok = res.status >= 200 && res.status < 300;
    if (!ok && !okStatuses.includes(res.status)) throw new JobsError(`job ${name}: HTTP ${res.status} ${res.body}`);
  };
  return {
    schedule: (name, job) =>
      call(name, {
        method: "POST",
        headers: { "content-type": "application/json" },
        // A due time already past (the job was scheduled late) fires as soon as possible.
        body: JSON.stringify({
          dueTime: Date.parse(job.dueTime) <= Date.now() ? "1s" : job.dueTime,
          data: withTrace(job.data),
          overwrite: true,
          failurePolicy: JOB_FAILURE_POLICY,
        }),
      }),
    remove: (name) => call(name, { method: "DELETE" }, [404]),
  };
};

/** Object data with the current trace beside its fields; other data as it is. */
const withTrace = (data: unknown): unknown => {
  const trace = currentTrace();
  if (!trace || typeof data !== "object" || data === null || Array.isArray(data)) return data;
  const { traceparent, tracestate } = traceAttributes(trace);
  return { ...data, traceparent, ...(tracestate ? { tracestate } : {}) };
};
