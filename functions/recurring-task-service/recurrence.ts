/**
 * Calendar maths for recurring tasks: when is occurrence n+1 due?
 *
 * Occurrences are counted from the series start (the first occurrence's due
 * date), in the series' time zone, so they keep their wall-clock time across
 * daylight-saving changes and a 31st or a 29 February comes back whenever the
 * calendar has it (clamped to the month's last day otherwise).
 */
import { MAX_OCCURRENCES, type Recurrence } from "../../shared/catalog/task.ts";

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

/** Monday-first position of a weekday in its week (MO = 0 … SU = 6). */
const dayOfWeek = (day: (typeof WEEKDAYS)[number]): number => (WEEKDAYS.indexOf(day) + 6) % 7;

/**
 * Due date number `n` (1-based) of the series, computed directly (no walk
 * from the start, so any n costs the same). Weekly with weekdays: every listed
 * weekday of every `interval`-th week; the start counts as occurrence 1, even
 * on an unlisted day.
 */
const occurrenceAt = (start: WallTime, recurrence: Recurrence, n: number): WallTime => {
  const steps = n - 1;
  const { interval } = recurrence;
  switch (recurrence.frequency) {
    case "daily":
      return addDays(start, steps * interval);
    case "monthly":
      return addMonthsClamped(start, steps * interval);
    case "yearly":
      return addMonthsClamped(start, 12 * steps * interval);
    case "weekly": {
      if (!recurrence.weekdays || steps === 0) return addDays(start, 7 * steps * interval);
      const days = [...new Set(recurrence.weekdays.map(dayOfWeek))].sort((a, b) => a - b);
      const startDay = dayOfWeek(weekdayOf(start));
      const restOfFirstWeek = days.filter((d) => d > startDay);
      const p = steps - 1; // 0-based among the occurrences after the start
      if (p < restOfFirstWeek.length) return addDays(start, restOfFirstWeek[p]! - startDay);
      const q = p - restOfFirstWeek.length;
      const weeksAhead = interval * (1 + Math.floor(q / days.length));
      return addDays(start, 7 * weeksAhead + days[q % days.length]! - startDay);
    }
  }
};

/** The last instant an occurrence may be due: ISO 8601 timestamps stop at year 9999. */
const LAST_DUE = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * The occurrence after number `occurrence` (1-based) of a series, or undefined
 * when the series ends there (count or MAX_OCCURRENCES reached, past `until`,
 * or past the year 9999).
 */
export const nextOccurrence = (seriesStart: string, recurrence: Recurrence, occurrence: number): { occurrence: number; dueAt: string } | undefined => {
  const next = occurrence + 1;
  if (next > (recurrence.count ?? MAX_OCCURRENCES) || next > MAX_OCCURRENCES) return undefined;
  const start = wallTimeOf(new Date(seriesStart), recurrence.timeZone);
  const dueAt = instantOf(occurrenceAt(start, recurrence, next), recurrence.timeZone);
  const due = dueAt.getTime();
  if (Number.isNaN(due) || due > LAST_DUE) return undefined;
  if (recurrence.until !== undefined && due > Date.parse(recurrence.until)) return undefined;
  return { occurrence: next, dueAt: dueAt.toISOString() };
};
