/**
 * A failure that retrying cannot fix (a business rule rejects the event, a
 * referenced thing is gone for good). The host dead-letters the event with the
 * reason at once. Any other thrown error is treated as transient and retried.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

export const permanent = (reason: string): PermanentError => new PermanentError(reason);

/**
 * A dependency is busy or briefly out of reach (it answered 503 or 429, its
 * sidecar reports it unhealthy, or it cannot be reached): the event is retried
 * later without spending one of its delivery attempts, as when another
 * delivery holds the effect. Overload must not turn into dead letters. The
 * resiliency policy's inbound retries still bound how long an event waits.
 */
export class DependencyBusy extends Error {
  override readonly name: string = "DependencyBusy";
}

export const busy = (reason: string, options?: { cause?: unknown }): DependencyBusy => new DependencyBusy(reason, options);

/** Raised when the sidecar refuses or cannot take a publish after bounded retries. */
export class PublishError extends Error {
  override readonly name = "PublishError";
  constructor(
    message: string,
    readonly topic: string,
    readonly eventId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const describeError = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/**
 * A failure with the HTTP answer it deserves: the host's error handler sends
 * `status`, `body` and `headers` as they are. Anything else a route throws is
 * a 500 (logged), unless the function maps it (FunctionDef.httpErrors).
 */
export class HttpError extends Error {
  override readonly name: string = "HttpError";
  constructor(
    readonly status: number,
    readonly body: { error: string; reason?: string } & Record<string, unknown>,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(body.reason ?? body.error);
  }
}

/** 503 with Retry-After: busy or a dependency out of reach; the same request may be sent again later. */
export const serviceBusy = (reason: string, retryAfterS = 1): HttpError =>
  new HttpError(503, { error: "busy", reason }, { "retry-after": String(retryAfterS) });

/** 401: no valid credentials; the reason says what was wrong. */
export class Unauthorized extends HttpError {
  override readonly name = "Unauthorized";
  constructor(reason: string, realm = "task-api") {
    super(401, { error: "unauthorized", reason }, { "www-authenticate": `Bearer realm="${realm}"` });
  }
}
