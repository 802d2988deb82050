/**
 * The other two parts of the local stack the functions build on: the Dapr
 * scheduler behind the Jobs API, and the Cosmos-compatible server that
 * `@azure/cosmos` talks to unchanged.
 */
import { randomUUID } from "node:crypto";
import { Agent } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { CosmosClient } from "@azure/cosmos";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { defineFunction } from "../../shared/host/define.ts";
import { runWithSidecar, type FunctionUnderTest } from "../../tools/stack/function-under-test.ts";

const stack = inject("stack");

describe("Dapr Jobs API through the scheduler", () => {
  const fired: { name: string; at: number; body: unknown }[] = [];
  let fn: FunctionUnderTest;

  beforeAll(async () => {
    fn = await runWithSidecar(
      stack,
      defineFunction({
        name: `jobs-${randomUUID().slice(0, 8)}`,
        consumers: [],
        sidecarRoutes: (app) => {
          app.post<{ Params: { name: string } }>("/job/:name", async (req) => {
            fired.push({ name: req.params.name, at: Date.now(), body: req.body });
            return {};
          });
        },
      }),
    );
  });
  afterAll(async () => fn?.stop());

  it("calls the app back with the job's data when it is due, not before", async () => {
    const scheduledAt = Date.now();
    const res = await fetch(`http://127.0.0.1:${fn.sidecar.httpPort}/v1.0/jobs/reminder-t1`, {
      method: "POST",
      headers: { "content-type": "application/json", "dapr-api-token": fn.sidecarAddress.apiToken! },
      body: JSON.stringify({ dueTime: "2s", data: { taskId: "t1" } }),
    });
    expect(res.status).toBeLessThan(300);
    const deadline = Date.now() + 20_000;
    while (fired.length === 0 && Date.now() < deadline) await sleep(100);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.name).toBe("reminder-t1");
    expect(fired[0]!.body).toEqual({ taskId: "t1" });
    expect(fired[0]!.at - scheduledAt).toBeGreaterThanOrEqual(2_000);
  });
});

describe("Cosmos-compatible server", () => {
  it("serves @azure/cosmos: create, conflict on a duplicate id, point read and ordered query", async () => {
    const client = new CosmosClient({
      endpoint: stack.cosmosEndpoint,
      key: stack.cosmosKey,
      // The local server's certificate is self-signed; only this client skips verification.
      agent: new Agent({ rejectUnauthorized: false }),
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    const { database } = await client.databases.createIfNotExists({ id: `db-${randomUUID().slice(0, 8)}` });
    const { container } = await database.containers.createIfNotExists({ id: "audit", partitionKey: { paths: ["/taskId"] } });
    await container.items.create({ id: "e2", taskId: "t1", seq: 2 });
    await container.items.create({ id: "e1", taskId: "t1", seq: 1 });
    const duplicate = await container.items.create({ id: "e1", taskId: "t1", seq: 9 }).catch((e: { code?: number }) => e);
    expect(duplicate).toMatchObject({ code: 409 });
    const { resource } = await container.item("e1", "t1").read<{ seq: number }>();
    expect(resource?.seq).toBe(1);
    const { resources } = await container.items
      .query<{ id: string }>({ query: "SELECT * FROM c WHERE c.taskId = @t ORDER BY c.seq", parameters: [{ name: "@t", value: "t1" }] })
      .fetchAll();
    expect(resources.map((r) => r.id)).toEqual(["e1", "e2"]);
  });
});
