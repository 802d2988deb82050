import { z } from "zod";

/** An ISO 8601 instant with an offset, as stored and sent (UTC on output). */
export const Instant = z.iso.datetime({ offset: true });

export const Priority = z.enum(["low", "medium", "high"]);
export type Priority = z.infer<typeof Priority>;

export const TaskStatus = z.enum(["open", "in_progress", "completed"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const Weekday = z.enum(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]);

/** Occurrences a series may have at most, the first included: a series ends there whatever its rule. */
export const MAX_OCCURRENCES = 10_000;

/** True if the runtime knows the IANA zone: checked when a task is written, so no completion fails on it later. */
export const isKnownTimeZone = (timeZone: string): boolean => {
  if (KNOWN_ZONES.has(timeZone)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    return false;
  }
  if (KNOWN_ZONES.size < 1_000) KNOWN_ZONES.add(timeZone);
  return true;
};
/** Zones already found known: building a DateTimeFormat is far dearer than a lookup. */
const KNOWN_ZONES = new Set<string>(["UTC"]);

export const Recurrence = z
  .object({
    frequency: z.enum(["daily", "weekly", "monthly", "yearly"]).describe("Calendar unit the series repeats in."),
    interval: z.number().int().min(1).max(366).default(1).describe("Repeats every `interval` units (2 with weekly = every other week)."),
    /** For weekly recurrences: the days it falls on. */
    weekdays: z.array(Weekday).min(1).max(7).optional().describe("For weekly recurrences: the days it falls on."),
    /** Last instant an occurrence may be due. */
    until: Instant.optional().describe("Last instant an occurrence may be due. Give `until` or `count`, not both."),
    /** Total occurrences in the series, the first included. */
    count: z
      .number()
      .int()
      .min(1)
      .max(MAX_OCCURRENCES)
      .optional()
      .describe("Total occurrences in the series, the first included. Give `until` or `count`, not both."),
    /** IANA zone the calendar maths runs in (dates are stored in UTC). */
    timeZone: z
      .string()
      .min(1)
      .max(64)
      .refine(isKnownTimeZone, { message: "not an IANA time zone (Europe/Berlin, UTC, …)" })
      .default("UTC")
      .describe("IANA zone the calendar maths runs in (dates are stored in UTC)."),
  })
  .refine((r) => !(r.until && r.count), { message: "give until or count, not both", path: ["count"] });
export type Recurrence = z.infer<typeof Recurrence>;

/** The task as events carry it: a full snapshot after the change. */
export const TaskSnapshot = z.object({
  id: z.string().min(1).describe("The task id; also the event's subject and Kafka key."),
  userId: z.string().min(1).describe("The owner of the task."),
  title: z.string().min(1).max(200).describe("Short title."),
  description: z.string().max(5_000).optional().describe("Free text."),
  priority: Priority.describe("How urgent the task is."),
  tags: z.array(z.string().min(1).max(50)).max(20).describe("Labels chosen by the user; empty when none."),
  status: TaskStatus.describe("Where the task stands."),
  /** 0–100, for live clients. */
  progress: z.number().int().min(0).max(100).optional().describe("Percent done, 0–100, for live clients."),
  dueAt: Instant.optional().describe("When the task is due."),
  /** When the reminder fires (given directly, or derived from an offset before dueAt). */
  remindAt: Instant.optional().describe("When the reminder fires (given directly, or derived from an offset before dueAt)."),
  recurrence: Recurrence.optional().describe("How the task repeats; absent for a one-off task."),
  /** Shared by every occurrence of a recurring task. */
  seriesId: z.string().min(1).optional().describe("Shared by every occurrence of a recurring task."),
  /** 1 for the first occurrence of a series. */
  occurrence: z.number().int().min(1).max(MAX_OCCURRENCES).optional().describe("Position in the series; 1 for the first occurrence."),
  /** Due date of the first occurrence: later ones are counted from it, so month ends and leap days come back. */
  seriesStartAt: Instant.optional().describe("Due date of the series' first occurrence; later occurrences are counted from it."),
  createdAt: Instant.describe("When the task was created."),
  updatedAt: Instant.describe("When the task last changed."),
  completedAt: Instant.optional().describe("When the task was completed."),
});
export type TaskSnapshot = z.infer<typeof TaskSnapshot>;
