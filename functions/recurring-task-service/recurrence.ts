/**
 * Calendar maths for recurring tasks: when is occurrence n+1 due?
 *
 * Occurrences are counted from the series start (the first occurrence's due
 * date), in the series' time zone, so they keep their wall-clock time across
 * daylight-saving changes and a 31st or a 29 February comes back whenever the
 * calendar has it (clamped to the month's last day otherwise).
 */
import type { Recurrence } from "../../shared/catalog/task.ts";

interface WallTime {
  year: number;
  month: number; // 1–12
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const WEEKDAYS = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"] as const;

const formatters = new Map<string, Intl.DateTimeFormat>();
const formatterFor = (timeZone: string): Intl.DateTimeFormat => {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
};

/** True if the runtime knows the IANA zone. */
export const isTimeZone = (timeZone: string): boolean => {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
};

const wallTimeOf = (instant: Date, timeZone: string): WallTime => {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(instant)) if (p.type !== "literal") parts[p.type] = Number(p.value);
  return {
    year: parts["year"]!,
    month: parts["month"]!,
    day: parts["day"]!,
    hour: parts["hour"]!,
    minute: parts["minute"]!,
    second: parts["second"]!,
    millisecond: instant.getUTCMilliseconds(),
  };
};

const asUtc = (w: WallTime): number => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.millisecond);

/**
 * The instant a wall-clock time in `timeZone` names. In a gap (spring forward)
 * the time moves forward by the gap; in an overlap (fall back) the earlier one is taken.
 */
const instantOf = (w: WallTime, timeZone: string): Date => {
  const target = asUtc(w);
  let guess = target;
  for (let i = 0; i < 3; i++) {
    const offset = asUtc(wallTimeOf(new Date(guess), timeZone)) - guess;
    guess = target - offset;
  }
  const earlier = guess - 60 * 60 * 1000;
  if (asUtc(wallTimeOf(new Date(earlier), timeZone)) === target) return new Date(earlier);
  return new Date(guess);
};

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

const addMonthsClamped = (w: WallTime, months: number): WallTime => {
  const index = w.year * 12 + (w.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return { ...w, year, month, day: Math.min(w.day, daysInMonth(year, month)) };
};

const addDays = (w: WallTime, days: number): WallTime => {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day + days));
  return { ...w, year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
};

const weekdayOf = (w: WallTime): (typeof WEEKDAYS)[number] => WEEKDAYS[new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay()]!;

/** Monday-based week index, for counting weekly intervals. */
const weekIndexOf = (w: WallTime): number => Math.floor((Date.UTC(w.year, w.month - 1, w.day) / 86_400_000 + 3) / 7);

/**
 * The due dates of the series, from its start, in order. Weekly with weekdays
 * yields every listed weekday of every `interval`-th week (the start counts,
 * even on an unlisted day, as occurrence 1).
 */
export function* occurrences(seriesStart: string, recurrence: Recurrence): Generator<Date> {
  const timeZone = recurrence.timeZone;
  const start = wallTimeOf(new Date(seriesStart), timeZone);
  const interval = recurrence.interval;
  yield instantOf(start, timeZone);
  if (recurrence.frequency === "weekly" && recurrence.weekdays) {
    const days = new Set(recurrence.weekdays);
    const startWeek = weekIndexOf(start);
    for (let day = addDays(start, 1); ; day = addDays(day, 1)) {
      if ((weekIndexOf(day) - startWeek) % interval === 0 && days.has(weekdayOf(day))) yield instantOf(day, timeZone);
    }
  }
  for (let n = 1; ; n++) {
    const next =
      recurrence.frequency === "daily"
        ? addDays(start, n * interval)
        : recurrence.frequency === "weekly"
          ? addDays(start, 7 * n * interval)
          : recurrence.frequency === "monthly"
            ? addMonthsClamped(start, n * interval)
            : addMonthsClamped(start, 12 * n * interval);
    yield instantOf(next, timeZone);
  }
}

/**
 * The occurrence after number `occurrence` (1-based) of a series, or undefined
 * when the series ends there (count reached, or past `until`).
 */
export const nextOccurrence = (
  seriesStart: string,
  recurrence: Recurrence,
  occurrence: number,
): { occurrence: number; dueAt: string } | undefined => {
  const next = occurrence + 1;
  if (recurrence.count !== undefined && next > recurrence.count) return undefined;
  let n = 0;
  for (const dueAt of occurrences(seriesStart, recurrence)) {
    n++;
    if (n < next) continue;
    if (recurrence.until !== undefined && dueAt.getTime() > Date.parse(recurrence.until)) return undefined;
    return { occurrence: next, dueAt: dueAt.toISOString() };
  }
  return undefined;
};
