/**
 * Effects done once per key, whatever the redeliveries: a claim in the Dapr
 * state store with first-write concurrency (insert-if-absent on every
 * conformant store), marked done after the effect.
 *
 * A claim is a lease: if the process dies between claim and done, another
 * delivery takes over once the lease has run out and runs the effect again,
 * so effects that leave the system (a webhook) carry the key for receivers to
 * de-duplicate the rare crash-during-send case.
 */
import { STATE_STORE } from "../catalog/names.ts";
import { busy, DependencyBusy } from "./errors.ts";
import { callSidecar, type SidecarAddress } from "./sidecar.ts";

/** Runs `effect` unless it already ran for `key`; true if it ran now. */
export type Once = (key: string, effect: () => Promise<void>) => Promise<boolean>;

/** Another delivery holds the claim: retry later (not counted as a failed attempt). */
export class ClaimBusy extends DependencyBusy {
  override readonly name = "ClaimBusy";
}

type ClaimValue = { status: "pending"; until: number } | { status: "done"; at: string };

export interface StateClient {
  /** Insert-if-absent (no etag), or compare-and-set (etag); false when the store refused. */
  tryWrite(key: string, value: ClaimValue, etag?: string): Promise<boolean>;
  read(key: string): Promise<{ value: ClaimValue; etag: string } | undefined>;
  write(key: string, value: ClaimValue): Promise<void>;
  remove(key: string): Promise<void>;
}

export const daprStateClient = (opts: SidecarAddress & { store?: string }): StateClient => {
  const base = `/v1.0/state/${opts.store ?? STATE_STORE}`;
  const timeoutMs = 5_000;
  const save = (key: string, value: ClaimValue, etag?: string, firstWrite = true) =>
    callSidecar(opts, "POST", base, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        { key, value, ...(etag ? { etag } : {}), options: { concurrency: firstWrite ? "first-write" : "last-write", consistency: "strong" } },
      ]),
      timeoutMs,
    });
  const ok = (status: number) => status >= 200 && status < 300;
  return {
    async tryWrite(key, value, etag) {
      // Refusals differ per store (409 on Cosmos DB, 500 elsewhere): the caller re-reads to tell.
      return ok((await save(key, value, etag)).status);
    },
    async read(key) {
      const res = await callSidecar(opts, "GET", `${base}/${encodeURIComponent(key)}?consistency=strong`, { timeoutMs });
      if (res.status === 204 || res.status === 404) return undefined;
      if (!ok(res.status)) throw new Error(`state read ${key}: HTTP ${res.status} ${res.body}`);
      const etag = res.headers["etag"];
      return { value: JSON.parse(res.body) as ClaimValue, etag: typeof etag === "string" ? etag : "" };
    },
    async write(key, value) {
      const res = await save(key, value, undefined, false);
      if (!ok(res.status)) throw new Error(`state write ${key}: HTTP ${res.status} ${res.body}`);
    },
    async remove(key) {
      await callSidecar(opts, "DELETE", `${base}/${encodeURIComponent(key)}`, { timeoutMs });
    },
  };
};

export const createOnce =
  (state: StateClient, leaseMs = 15_000, now: () => number = Date.now): Once =>
  async (key, effect) => {
    const lease = (): ClaimValue => ({ status: "pending", until: now() + leaseMs });
    // A store out of reach (the sidecar cannot reach it, or it refuses every write) holds the
    // effect back like a busy dependency: retried without spending delivery attempts, so an
    // outage does not dead-letter the effects that were waiting for it.
    const outOfReach = (err: unknown) => busy(`the state store is out of reach: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    if (!(await state.tryWrite(key, lease()).catch((err: unknown) => Promise.reject(outOfReach(err))))) {
      const current = await state.read(key).catch((err: unknown) => Promise.reject(outOfReach(err)));
      if (!current) throw busy(`the state store refused the claim of ${key} and does not hold it: state store error (out of reach or not writable)`);
      if (current.value.status === "done") return false;
      if (current.value.until > now()) throw new ClaimBusy(`${key} is being handled by another delivery`);
      if (!(await state.tryWrite(key, lease(), current.etag))) throw new ClaimBusy(`${key} was taken over by another delivery`);
    }
    try {
      await effect();
    } catch (err) {
      await state.remove(key).catch(() => undefined); // let the retry claim it again
      throw err;
    }
    // The effect happened: record it, trying hard, since a lost "done" means a repeat after the lease.
    for (let attempt = 1; ; attempt++) {
      try {
        await state.write(key, { status: "done", at: new Date(now()).toISOString() });
        return true;
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  };
