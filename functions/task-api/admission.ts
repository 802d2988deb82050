/**
 * Admission control for task-api's public API: at most `maxInFlight` requests
 * are worked on at once; one more is refused at once with 503 and
 * `Retry-After`, before any work (no token check, no store call), so nothing
 * of it happens and the client can safely send it again. Past capacity the
 * writes that are admitted keep their latency, the rest are told when to come
 * back, and the consumers' backlog (Kafka) absorbs the burst.
 */
import type { FastifyInstance } from "fastify";

export interface AdmissionOptions {
  maxInFlight: number;
  /** Seconds the client is asked to wait before sending a refused request again. */
  retryAfterS: number;
}

export class Admission {
  inFlight = 0;

  constructor(
    readonly options: AdmissionOptions,
    private readonly onRefused: () => void = () => undefined,
  ) {}

  /** Guards every route of `scope` (register it on the public routes only). */
  guard(scope: FastifyInstance): void {
    scope.addHook("onRequest", async (_request, reply) => {
      if (this.inFlight >= this.options.maxInFlight) {
        this.onRefused();
        return reply
          .code(503)
          .header("retry-after", String(this.options.retryAfterS))
          .send({ error: "busy", reason: `task-api is working on ${this.inFlight} requests; try again in ${this.options.retryAfterS} s` });
      }
      this.inFlight++;
      // 'close' comes once the answer is sent or the client went away, whichever happens.
      reply.raw.once("close", () => this.inFlight--);
      return undefined;
    });
  }
}
