import { setTimeout as sleep } from "node:timers/promises";

/** Polls `get` until it returns a value (not undefined), and returns it; fails with `what` on time-out. */
export const waitFor = async <T>(what: string, get: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
};
