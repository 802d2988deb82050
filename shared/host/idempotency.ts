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
import { DependencyBusy } from "./errors.ts";
import { sidecarHeaders, sidecarUrl, type SidecarAddress } from "./sidecar.ts";

export interface Once {
  /** Runs `effect` unless it already ran for `key`; true if it ran now. */
  (key: string, effect: () => Promise<void>): Promise<boolean>;
}

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
  const base = sidecarUrl(opts, `/v1.0/state/${opts.store ?? STATE_STORE}`);
  const headers = sidecarHeaders(opts);
  const save = (key: string, value: ClaimValue, etag?: string, firstWrite = true) =>
    fetch(base, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify([
        { key, value, ...(etag ? { etag } : {}), options: { concurrency: firstWrite ? "first-write" : "last-write", consistency: "strong" } },
      ]),
      signal: AbortSignal.timeout(5_000),
    });
  return {
    async tryWrite(key, value, etag) {
      const res = await save(key, value, etag);
      await res.body?.cancel();
      // Refusals differ per store (409 on Cosmos DB, 500 elsewhere): the caller re-reads to tell.
      return res.ok;
    },
    async read(key) {
      const res = await fetch(`${base}/${encodeURIComponent(key)}?consistency=strong`, { headers, signal: AbortSignal.timeout(5_000) });
      if (res.status === 204 || res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (!res.ok) throw new Error(`state read ${key}: HTTP ${res.status} ${await res.text()}`);
      return { value: (await res.json()) as ClaimValue, etag: res.headers.get("etag") ?? "" };
    },
    async write(key, value) {
      const res = await save(key, value, undefined, false);
      if (!res.ok) throw new Error(`state write ${key}: HTTP ${res.status} ${await res.text()}`);
      await res.body?.cancel();
    },
    async remove(key) {
      const res = await fetch(`${base}/${encodeURIComponent(key)}`, { method: "DELETE", headers, signal: AbortSignal.timeout(5_000) });
      await res.body?.cancel();
    },
  };
};

export const createOnce = (state: StateClient, leaseMs = 15_000, now: () => number = Date.now): Once =>
  async (key, effect) => {
    const lease = (): ClaimValue => ({ status: "pending", until: now() + leaseMs });
    if (!(await state.tryWrite(key, lease()))) {
      const current = await state.read(key);
      if (!current) throw new Error(`claim of ${key} failed and the key is absent: state store error`);
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
