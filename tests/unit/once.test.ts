import { describe, expect, it } from "vitest";
import { DependencyBusy } from "../../shared/host/errors.ts";
import { ClaimBusy, createOnce } from "../../shared/host/idempotency.ts";
import { MemoryState } from "../../shared/testing/memory-state.ts";

describe("once: an effect per key across redeliveries", () => {
  it("runs the effect the first time and skips it after", async () => {
    const once = createOnce(new MemoryState());
    let runs = 0;
    expect(await once("k", async () => void runs++)).toBe(true);
    expect(await once("k", async () => void runs++)).toBe(false);
    expect(runs).toBe(1);
  });

  it("releases the claim when the effect fails, so the retry runs it", async () => {
    const once = createOnce(new MemoryState());
    await expect(once("k", async () => Promise.reject(new Error("webhook down")))).rejects.toThrow("webhook down");
    let ran = false;
    expect(
      await once("k", async () => {
        ran = true;
      }),
    ).toBe(true);
    expect(ran).toBe(true);
  });

  it("asks a concurrent delivery to wait while the claim's lease runs, and lets it take over after", async () => {
    let clock = 1_000;
    const state = new MemoryState();
    const once = createOnce(state, 10_000, () => clock);
    await state.tryWrite("k", { status: "pending", until: clock + 10_000 }); // a holder that died mid-effect
    await expect(once("k", async () => undefined)).rejects.toBeInstanceOf(ClaimBusy);
    clock += 10_001;
    let ran = false;
    expect(
      await once("k", async () => {
        ran = true;
      }),
    ).toBe(true);
    expect(ran).toBe(true);
    expect(state.entries.get("k")!.value.status).toBe("done");
  });

  it("reports a store failure (claim refused, nothing there) as the store busy, not as a duplicate: the delivery waits without spending attempts", async () => {
    const broken = new MemoryState();
    broken.tryWrite = async () => false;
    let ran = false;
    const claim = createOnce(broken)("k", async () => {
      ran = true;
    });
    await expect(claim).rejects.toBeInstanceOf(DependencyBusy);
    await expect(claim).rejects.toThrow(/state store error/);
    expect(ran).toBe(false);
  });

  it("reports a store it cannot reach as busy, and runs nothing", async () => {
    const unreachable = new MemoryState();
    unreachable.tryWrite = async () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:3500"));
    const unreadable = new MemoryState();
    unreadable.tryWrite = async () => false;
    unreadable.read = async () => Promise.reject(new Error("state read k: HTTP 500 ERR_STATE_GET"));
    for (const state of [unreachable, unreadable]) {
      let ran = false;
      await expect(
        createOnce(state)("k", async () => {
          ran = true;
        }),
      ).rejects.toBeInstanceOf(DependencyBusy);
      expect(ran).toBe(false);
    }
  });
});
