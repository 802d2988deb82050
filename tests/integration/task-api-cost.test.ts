/**
 * What task-api's writes cost and how it behaves past its bound, on the real
 * stack: Cosmos DB operations per write kind (counted by the local Cosmos
 * server, so a round trip cannot creep back unnoticed), and admission
 * control that refuses with 503 + Retry-After and leaves no trace of what it refused.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { TaskCreated } from "../../shared/catalog/events.ts";
import { Service, Topic } from "../../shared/catalog/names.ts";
import { readTopicToEnd } from "../../tools/stack/topic-reader.ts";
import { waitFor } from "../../tools/stack/wait.ts";
import { readCosmosStats } from "../../tools/stack/cosmos.ts";
import { onlyOperations, requestUnitsOf, statsSince, type CosmosStats } from "../../tools/stack/cosmos-cost.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";

const stack = inject("stack");
const secret = randomUUID() + randomUUID();
const MAX_IN_FLIGHT = 4;
let api: RunningFunction;
let base: string;

const call = async (user: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${await mintToken(secret, user)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
};

/** The outbox relay has carried out everything (the backlog gauge task-api exports is 0). */
const outboxDrained = () =>
  waitFor("task-api's outbox to drain", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${api.appPort}/metrics`)).text();
    return /^taskapp_outbox_backlog\{[^}]*\} 0$/m.test(metrics) ? true : undefined;
  });

const stats = (): Promise<CosmosStats> => readCosmosStats(stack.cosmosStatsUrl!);

beforeAll(async () => {
  api = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret, MAX_REQUESTS_IN_FLIGHT: String(MAX_IN_FLIGHT) } });
  base = `http://127.0.0.1:${api.publicPort}`;
});
afterAll(async () => api?.stop());

describe("Cosmos DB cost per write", () => {
  /** Runs `write` `n` times one after another, each until its outbox drained; the operations per write. */
  const perWrite = async (n: number, write: (i: number) => Promise<void>) => {
    const before = await stats();
    for (let i = 0; i < n; i++) {
      await write(i);
      await outboxDrained();
    }
    const used = statsSince(before, await stats());
    const per = (op: keyof CosmosStats["operations"]) => (used.operations[op]?.count ?? 0) / n;
    // The outbox sweep's periodic query is not a cost of the writes: point operations only.
    return {
      read: per("read"),
      create: per("create"),
      replace: per("replace"),
      requestUnits: requestUnitsOf(onlyOperations(used, ["read", "create", "replace"])) / n,
    };
  };

  it("costs one document write and one conditional cleanup per write, and no read once the task is known", async () => {
    const user = `cost-${randomUUID().slice(0, 6)}`;
    const ids: string[] = [];
    const creates = await perWrite(5, async (i) => {
      const res = await call(user, "POST", "/tasks", { title: `cost ${i}`, reminder: { remindAt: new Date(Date.now() + 3_600_000).toISOString() } });
      expect(res.status).toBe(201);
      ids.push(res.body!["id"] as string);
    });
    const updates = await perWrite(5, async (i) => {
      expect((await call(user, "PATCH", `/tasks/${ids[i]}`, { progress: 50, description: "halfway" })).status).toBe(200);
    });
    const completions = await perWrite(5, async (i) => {
      expect((await call(user, "POST", `/tasks/${ids[i]}/complete`)).status).toBe(200);
    });
    console.log(`[cost] RU-equivalents per write: create ${creates.requestUnits}, update ${updates.requestUnits}, complete ${completions.requestUnits}`);
    expect(creates).toMatchObject({ read: 0, create: 1, replace: 1 });
    expect(updates).toMatchObject({ read: 0, create: 0, replace: 2 });
    expect(completions).toMatchObject({ read: 0, create: 0, replace: 2 });
    // RU-equivalents (tools/stack/cosmos-cost.ts): two writes of a document under 2 KB.
    for (const cost of [creates, updates, completions]) expect(cost.requestUnits).toBeLessThanOrEqual(20);
  });
});

describe("admission control", () => {
  it(`refuses what is past ${MAX_IN_FLIGHT} requests in flight with 503 and Retry-After, and nothing of a refused write happens`, async () => {
    const user = `burst-${randomUUID().slice(0, 6)}`;
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => call(user, "POST", "/tasks", { title: `burst ${i}` })));
    const created = answers.filter((a) => a.status === 201).map((a) => a.body!["id"] as string);
    const refused = answers.filter((a) => a.status === 503);
    expect(created.length + refused.length).toBe(answers.length);
    expect(refused.length).toBeGreaterThan(0);
    expect(created.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.retryAfter === "1" && a.body!["error"] === "busy")).toBe(true);

    await outboxDrained();
    const events = (await readTopicToEnd(stack.kafkaBrokers, Topic.TaskEvents)).filter(
      (r) =>
        (r.value as { type: string; data: { userId: string } }).type === TaskCreated.type && (r.value as { data: { userId: string } }).data.userId === user,
    );
    expect(events.map((r) => (r.value as { subject: string }).subject).sort()).toEqual([...created].sort());
    const listed = await call(user, "GET", "/tasks?limit=100");
    expect((listed.body!["tasks"] as { id: string }[]).map((t) => t.id).sort()).toEqual([...created].sort());
  });
});
