/** Where reminders go. Each channel sends one message or throws; a PermanentError means retrying cannot help. */
import { busy, permanent } from "../../shared/host/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { currentTrace, inSpan, traceHeaders } from "../../shared/trace.ts";

export interface ReminderMessage {
  /** The reminder.due event id: stable per task and remind time, so receivers can de-duplicate. */
  eventId: string;
  taskId: string;
  userId: string;
  title: string;
  dueAt?: string;
  remindAt: string;
}

export interface Channel {
  readonly name: string;
  send(message: ReminderMessage): Promise<void>;
}

/**
 * POSTs the reminder as JSON, with `Idempotency-Key: <eventId>`. 2xx is sent;
 * 429 and 503 (the receiver asks to come back later) are retried without
 * spending delivery attempts; 408 and other 5xx are retried; any other 4xx is
 * permanent (the receiver will not take it, however often it is sent). The call carries the
 * reminder's trace (`traceparent`), so a receiver that traces joins it.
 */
export const webhookChannel = (url: string, timeoutMs: number): Channel => ({
  name: "webhook",
  async send(message) {
    const { res, body } = await inSpan(
      "POST webhook",
      "CLIENT",
      { "http.url": url },
      async () => {
        let res: Response;
        try {
          res = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": message.eventId, ...traceHeaders(currentTrace()) },
            body: JSON.stringify(message),
            signal: AbortSignal.timeout(timeoutMs),
          });
        } catch (err) {
          throw new Error(`webhook unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        return { res, body: (await res.text()).slice(0, 500) };
      },
      "webhook",
    );
    if (res.ok) return;
    if (res.status === 429 || res.status === 503) throw busy(`webhook is busy: HTTP ${res.status} ${body}`);
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      throw permanent(`webhook refused the reminder: HTTP ${res.status} ${body}`);
    }
    throw new Error(`webhook failed: HTTP ${res.status} ${body}`);
  },
});

/** Writes the reminder to the service's log: always on, and the only channel when no webhook is set. */
export const logChannel = (log: Logger): Channel => ({
  name: "log",
  async send(message) {
    log.info({ reminder: message }, "reminder");
  },
});
