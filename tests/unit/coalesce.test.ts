import { describe, expect, it } from "vitest";
import { Coalescer, type Outcome } from "../../shared/coalesce.ts";

/** A store whose requests the test answers by hand. */
const manualStore = () => {
  const requests: { items: string[]; answer(outcomes?: Outcome<string>[]): void; fail(err: Error): void }[] = [];
  const send = (items: string[]) =>
    new Promise<Outcome<string>[]>((resolve, reject) => {
      requests.push({
        items,
        answer: (outcomes) => resolve(outcomes ?? items.map((i) => ({ ok: true, value: i.toUpperCase() }))),
        fail: reject,
      });
    });
  return { requests, send };
};
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("group commit", () => {
  it("sends an item alone at once when nothing is in flight", async () => {
    const store = manualStore();
    const c = new Coalescer(store.send, { maxBatch: 10, maxInFlight: 1 });
    const a = c.submit("a");
    await tick();
    expect(store.requests.map((r) => r.items)).toEqual([["a"]]);
    store.requests[0]!.answer();
    expect(await a).toBe("A");
  });

  it("puts what arrives while a request is in flight into the next one, up to the batch size", async () => {
    const store = manualStore();
    const c = new Coalescer(store.send, { maxBatch: 3, maxInFlight: 1 });
    const first = c.submit("a");
    await tick();
    const later = ["b", "c", "d", "e"].map((i) => c.submit(i));
    await tick();
    expect(store.requests.map((r) => r.items)).toEqual([["a"]]);
    store.requests[0]!.answer();
    await tick();
    expect(store.requests.map((r) => r.items)).toEqual([["a"], ["b", "c", "d"]]);
    store.requests[1]!.answer();
    await tick();
    store.requests[2]!.answer();
    expect(await Promise.all([first, ...later])).toEqual(["A", "B", "C", "D", "E"]);
  });

  it("never lets two items of one key travel together or at once, so they arrive in order", async () => {
    const store = manualStore();
    const c = new Coalescer(store.send, { maxBatch: 10, maxInFlight: 4, keyOf: (i: string) => i[0]! });
    const all = ["x1", "y1", "x2", "x3", "y2"].map((i) => c.submit(i));
    await tick();
    expect(store.requests.map((r) => r.items)).toEqual([["x1", "y1"]]);
    store.requests[0]!.answer();
    await tick();
    expect(store.requests.map((r) => r.items)).toEqual([
      ["x1", "y1"],
      ["x2", "y2"],
    ]);
    store.requests[1]!.answer();
    await tick();
    expect(store.requests.map((r) => r.items)).toEqual([["x1", "y1"], ["x2", "y2"], ["x3"]]);
    store.requests[2]!.answer();
    expect(await Promise.all(all)).toEqual(["X1", "Y1", "X2", "X3", "Y2"]);
  });

  it("fails only the items the store failed, and every item of a request that failed whole", async () => {
    const store = manualStore();
    const c = new Coalescer(store.send, { maxBatch: 10, maxInFlight: 1 });
    const [a, b] = [c.submit("a"), c.submit("b")];
    await tick();
    store.requests[0]!.answer([
      { ok: true, value: "A" },
      { ok: false, error: new Error("b refused") },
    ]);
    expect(await a).toBe("A");
    await expect(b).rejects.toThrow("b refused");
    const [d, e] = [c.submit("d"), c.submit("e")];
    await tick();
    store.requests[1]!.fail(new Error("connection reset"));
    await expect(d).rejects.toThrow("connection reset");
    await expect(e).rejects.toThrow("connection reset");
  });
});
