import { describe, expect, it } from "vitest";
import { createAuthenticator, mintToken, Unauthorized } from "../../functions/task-api/auth.ts";
import { changesBetween, CreateTaskBody, resolveRemindAt } from "../../functions/task-api/model.ts";
import type { TaskSnapshot } from "../../shared/catalog/task.ts";

const task = (over: Partial<TaskSnapshot>): TaskSnapshot => ({
  id: "t",
  userId: "u",
  title: "task",
  priority: "medium",
  tags: [],
  status: "open",
  createdAt: "2030-01-01T00:00:00.000Z",
  updatedAt: "2030-01-01T00:00:00.000Z",
  ...over,
});

describe("task rules", () => {
  it("resolves a reminder given as minutes before the due date", () => {
    expect(resolveRemindAt("2030-01-01T10:00:00Z", { minutesBefore: 90 })).toBe("2030-01-01T08:30:00.000Z");
    expect(resolveRemindAt(undefined, { remindAt: "2030-01-01T10:00:00+02:00" })).toBe("2030-01-01T08:00:00.000Z");
    expect(resolveRemindAt("2030-01-01T10:00:00Z", undefined)).toBeUndefined();
  });

  it("refuses a relative reminder or a recurrence without a due date, naming the field", () => {
    const result = CreateTaskBody.safeParse({ title: "x", reminder: { minutesBefore: 5 }, recurrence: { frequency: "daily" } });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join("."))).toEqual(["reminder.minutesBefore", "recurrence"]);
  });

  it("lists changed fields with their values before and after", () => {
    expect(changesBetween(task({ title: "a", progress: 10 }), task({ title: "b", description: "new" }))).toEqual({
      title: { from: "a", to: "b" },
      progress: { from: 10 },
      description: { to: "new" },
    });
  });
});

describe("bearer tokens", () => {
  const secret = "a-secret-of-at-least-thirty-two-characters";
  const authenticate = createAuthenticator({ AUTH_JWT_SECRET: secret });

  it("takes the user id from sub", async () => {
    expect(await authenticate(`Bearer ${await mintToken(secret, "alice")}`)).toEqual({ userId: "alice" });
  });

  it("refuses a missing, forged or expired token", async () => {
    await expect(authenticate(undefined)).rejects.toThrow(Unauthorized);
    await expect(authenticate(`Bearer ${await mintToken("another-secret-of-thirty-two-characters!", "alice")}`)).rejects.toThrow(/invalid token/);
    await expect(authenticate(`Bearer ${await mintToken(secret, "alice", "-1m")}`)).rejects.toThrow(/invalid token/);
  });
});
