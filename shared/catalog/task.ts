import { z } from "zod";

/** An ISO 8601 instant with an offset, as stored and sent (UTC on output). */
export const Instant = z.iso.datetime({ offset: true });

export const Priority = z.enum(["low", "medium", "high"]);
export type Priority = z.infer<typeof Priority>;

export const TaskStatus = z.enum(["open", "in_progress", "completed"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const Weekday = z.enum(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]);

export const Recurrence = z
  .object({
    frequency: z.enum(["daily", "weekly", "monthly", "yearly"]),
    interval: z.number().int().min(1).max(366).default(1),
    /** For weekly recurrences: the days it falls on. */
    weekdays: z.array(Weekday).min(1).max(7).optional(),
    /** Last instant an occurrence may be due. */
    until: Instant.optional(),
    /** Total occurrences in the series, the first included. */
    count: z.number().int().min(1).max(10_000).optional(),
    /** IANA zone the calendar maths runs in (dates are stored in UTC). */
    timeZone: z.string().min(1).max(64).default("UTC"),
  })
  .refine((r) => !(r.until && r.count), { message: "give until or count, not both", path: ["count"] });
export type Recurrence = z.infer<typeof Recurrence>;

/** The task as events carry it: a full snapshot after the change. */
export const TaskSnapshot = z.object({
  id: z.string().min(1),
  userId: z.string().min(1),
  title: z.string().min(1).max(200),
  description: z.string().max(5_000).optional(),
  priority: Priority,
  tags: z.array(z.string().min(1).max(50)).max(20),
  status: TaskStatus,
  /** 0–100, for live clients. */
  progress: z.number().int().min(0).max(100).optional(),
  dueAt: Instant.optional(),
  /** When the reminder fires (given directly, or derived from an offset before dueAt). */
  remindAt: Instant.optional(),
  recurrence: Recurrence.optional(),
  /** Shared by every occurrence of a recurring task. */
  seriesId: z.string().min(1).optional(),
  /** 1 for the first occurrence of a series. */
  occurrence: z.number().int().min(1).optional(),
  createdAt: Instant,
  updatedAt: Instant,
  completedAt: Instant.optional(),
});
export type TaskSnapshot = z.infer<typeof TaskSnapshot>;
