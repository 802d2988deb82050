import { describe, expect, it } from "vitest";
import { AuditEntry, auditOrderOf } from "../../shared/catalog/audit.ts";

const entry = (id: string, time: string, writeSeq: number) =>
  AuditEntry.parse({
    id,
    taskId: "t",
    userId: "u",
    type: "x.v1",
    source: "task-api",
    topic: "task-events",
    time,
    writeSeq,
    correlationId: "c",
    change: {},
    recordedAt: time,
  });

describe("a task's trail", () => {
  it("is in order by time, then by place within the write, as the one text field the store sorts on", () => {
    const a = "2030-01-01T10:00:00.000Z";
    const b = "2030-01-01T10:00:00.001Z";
    const c = "2030-01-01T10:00:01.000Z";
    const trail = [entry("c0", c, 0), entry("b0", b, 0), entry("a10", a, 10), entry("a2", a, 2), entry("a0", a, 0), entry("a1", a, 1)]
      .map((e) => ({ e, order: auditOrderOf(e) }))
      .sort((x, y) => (x.order < y.order ? -1 : x.order > y.order ? 1 : 0))
      .map(({ e }) => e);
    expect(trail.map((e) => e.id)).toEqual(["a0", "a1", "a2", "a10", "b0", "c0"]);
  });

  it("reads a stored entry with the catalog's schema: the store's own fields dropped, a missing writeSeq as 0", () => {
    const stored = { ...entry("e", "2030-01-01T10:00:00.000Z", 0), writeSeq: undefined, rank: 4, _rid: "x", _etag: "y", _ts: 1 };
    const read = AuditEntry.parse(stored);
    expect(read.writeSeq).toBe(0);
    expect(Object.keys(read).filter((k) => k.startsWith("_") || k === "rank")).toEqual([]);
  });
});
