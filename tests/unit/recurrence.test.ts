import { describe, expect, it } from "vitest";
import { nextOccurrence } from "../../functions/recurring-task-service/recurrence.ts";
import { Recurrence } from "../../shared/catalog/task.ts";

const rule = (r: Record<string, unknown>) => Recurrence.parse(r);
const series = (start: string, r: Record<string, unknown>, n: number): string[] => {
  const out: string[] = [];
  for (let i = 1; i < n; i++) {
    const next = nextOccurrence(start, rule(r), i);
    if (!next) break;
    out.push(next.dueAt);
  }
  return out;
};

describe("next occurrence", () => {
  it("daily: one day later, every interval days", () => {
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "daily" }), 1)).toEqual({
      occurrence: 2,
      dueAt: "2030-01-02T09:00:00.000Z",
    });
    expect(series("2030-01-01T09:00:00.000Z", { frequency: "daily", interval: 3 }, 3)).toEqual([
      "2030-01-04T09:00:00.000Z",
      "2030-01-07T09:00:00.000Z",
    ]);
  });

  it("keeps the wall-clock time across a daylight-saving change in the series' zone", () => {
    // 09:00 in Berlin: CET (UTC+1) before 29 March 2026, CEST (UTC+2) from then on.
    expect(series("2026-03-28T08:00:00.000Z", { frequency: "daily", timeZone: "Europe/Berlin" }, 3)).toEqual([
      "2026-03-29T07:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
    ]);
  });

  it("monthly from the 31st: clamped to the month's end, back to the 31st when the month has one", () => {
    expect(series("2031-01-31T12:00:00.000Z", { frequency: "monthly" }, 4)).toEqual([
      "2031-02-28T12:00:00.000Z",
      "2031-03-31T12:00:00.000Z",
      "2031-04-30T12:00:00.000Z",
    ]);
  });

  it("yearly from 29 February: 28 February in common years, 29 in leap years", () => {
    expect(series("2028-02-29T08:00:00.000Z", { frequency: "yearly" }, 5)).toEqual([
      "2029-02-28T08:00:00.000Z",
      "2030-02-28T08:00:00.000Z",
      "2031-02-28T08:00:00.000Z",
      "2032-02-29T08:00:00.000Z",
    ]);
  });

  it("weekly on listed weekdays, every other week", () => {
    // 2030-01-07 is a Monday.
    expect(series("2030-01-07T18:00:00.000Z", { frequency: "weekly", interval: 2, weekdays: ["MO", "FR"] }, 5)).toEqual([
      "2030-01-11T18:00:00.000Z",
      "2030-01-21T18:00:00.000Z",
      "2030-01-25T18:00:00.000Z",
      "2030-02-04T18:00:00.000Z",
    ]);
  });

  it("ends at count or until: the last occurrence has no next", () => {
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "daily", count: 3 }), 2)?.occurrence).toBe(3);
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "daily", count: 3 }), 3)).toBeUndefined();
    const until = rule({ frequency: "weekly", until: "2030-01-15T09:00:00.000Z" });
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", until, 2)?.dueAt).toBe("2030-01-15T09:00:00.000Z");
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", until, 3)).toBeUndefined();
  });
});
