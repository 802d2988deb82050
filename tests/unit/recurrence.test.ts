import { describe, expect, it } from "vitest";
import { nextOccurrence } from "../../functions/recurring-task-service/recurrence.ts";
import { MAX_OCCURRENCES, Recurrence } from "../../shared/catalog/task.ts";

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
    expect(series("2030-01-01T09:00:00.000Z", { frequency: "daily", interval: 3 }, 3)).toEqual(["2030-01-04T09:00:00.000Z", "2030-01-07T09:00:00.000Z"]);
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

  it("computes any occurrence directly: the last one of the largest series at once, and past the bound none", () => {
    const started = performance.now();
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "daily" }), MAX_OCCURRENCES - 1)).toEqual({
      occurrence: MAX_OCCURRENCES,
      dueAt: "2057-05-18T09:00:00.000Z",
    });
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "daily" }), MAX_OCCURRENCES)).toBeUndefined();
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "daily" }), Number.MAX_SAFE_INTEGER)).toBeUndefined();
    expect(nextOccurrence("2030-01-01T09:00:00.000Z", rule({ frequency: "yearly", interval: 366 }), 30)).toBeUndefined(); // past 9999
    expect(performance.now() - started).toBeLessThan(50);
  });

  it("agrees with a day-by-day walk of the calendar for weekly series on listed weekdays", () => {
    const walk = (start: string, r: Recurrence, n: number): string[] => {
      const days = new Set(r.weekdays);
      const out: string[] = [];
      const first = new Date(start);
      const weekOf = (d: Date) => Math.floor((Math.floor(d.getTime() / 86_400_000) + 3) / 7);
      for (let d = new Date(first.getTime() + 86_400_000); out.length < n; d = new Date(d.getTime() + 86_400_000)) {
        const day = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"][d.getUTCDay()] as (typeof r.weekdays & {})[number];
        if ((weekOf(d) - weekOf(first)) % r.interval === 0 && days.has(day)) out.push(d.toISOString());
      }
      return out;
    };
    const cases: [string, Record<string, unknown>][] = [
      ["2030-01-09T07:30:00.000Z", { frequency: "weekly", weekdays: ["MO", "WE", "SU"] }],
      ["2030-01-12T07:30:00.000Z", { frequency: "weekly", interval: 3, weekdays: ["TU", "SA"] }],
      ["2030-01-06T07:30:00.000Z", { frequency: "weekly", interval: 2, weekdays: ["SU"] }],
      ["2030-01-07T07:30:00.000Z", { frequency: "weekly", weekdays: ["FR", "MO", "FR"] }],
    ];
    for (const [start, r] of cases) expect(series(start, r, 41)).toEqual(walk(start, rule(r), 40));
  });
});
