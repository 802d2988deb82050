/**
 * What Cosmos DB requests cost: the local server counts the requests it serves
 * by operation, and this module turns the counts into request-unit
 * equivalents with Cosmos DB's planning figures. The local server always
 * reports 1 RU, so the figures here are a model, not a bill: good enough to
 * see a write path grow a round trip, not to size a production account.
 *
 *   point read       1 RU per KB returned
 *   write            5 RU per KB sent (create, replace, upsert, patch, delete; a batch by its bytes)
 *   query            3 RU per page, plus 1 RU per KB returned
 *   metadata         1 RU (databases, containers, partition key ranges)
 */
import type { IncomingHttpHeaders } from "node:http";

export const COSMOS_OPERATIONS = ["read", "create", "replace", "upsert", "patch", "delete", "query", "batch", "metadata"] as const;
export type CosmosOperation = (typeof COSMOS_OPERATIONS)[number];

export interface OperationCount {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export interface CosmosStats {
  operations: Partial<Record<CosmosOperation, OperationCount>>;
}

export const emptyCosmosStats = (): CosmosStats => ({ operations: {} });

const DOCUMENT = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/]+$/;
const DOCUMENTS = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/?$/;

/** The operation a request to the Cosmos DB REST API performs. */
export const classifyCosmosRequest = (method: string, url: string, headers: IncomingHttpHeaders): CosmosOperation => {
  const path = url.split("?")[0] ?? "/";
  if (DOCUMENT.test(path)) {
    switch (method) {
      case "GET":
        return "read";
      case "PUT":
        return "replace";
      case "PATCH":
        return "patch";
      case "DELETE":
        return "delete";
    }
  }
  if (DOCUMENTS.test(path) && method === "POST") {
    // A query plan request (cross-partition queries ask for one first) is a round trip of the query.
    if (flag(headers, "x-ms-documentdb-isquery") || flag(headers, "x-ms-cosmos-is-query-plan-request")) return "query";
    if (flag(headers, "x-ms-cosmos-is-batch-request")) return "batch";
    return flag(headers, "x-ms-documentdb-is-upsert") ? "upsert" : "create";
  }
  return "metadata";
};

const flag = (headers: IncomingHttpHeaders, name: string): boolean => String(headers[name]).toLowerCase() === "true";

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** Request-unit equivalents of the counted operations (see the model above). */
export const requestUnitsOf = (stats: CosmosStats): number => {
  let units = 0;
  for (const [op, c] of Object.entries(stats.operations) as [CosmosOperation, OperationCount][]) {
    if (c.requests === 0) continue;
    const perRequestIn = c.bytesIn / c.requests;
    const perRequestOut = c.bytesOut / c.requests;
    switch (op) {
      case "read":
        units += c.requests * kb(perRequestOut);
        break;
      case "query":
        units += c.requests * (3 + kb(perRequestOut));
        break;
      case "metadata":
        units += c.requests;
        break;
      default:
        units += c.requests * 5 * kb(perRequestIn);
    }
  }
  return units;
};

/** What happened between two snapshots of the counts. */
export const statsSince = (before: CosmosStats, after: CosmosStats): CosmosStats => {
  const operations: CosmosStats["operations"] = {};
  for (const op of COSMOS_OPERATIONS) {
    const a = after.operations[op];
    if (!a) continue;
    const b = before.operations[op] ?? { requests: 0, bytesIn: 0, bytesOut: 0 };
    if (a.requests === b.requests) continue;
    operations[op] = { requests: a.requests - b.requests, bytesIn: a.bytesIn - b.bytesIn, bytesOut: a.bytesOut - b.bytesOut };
  }
  return { operations };
};

export const requestsOf = (stats: CosmosStats, ops: readonly CosmosOperation[] = COSMOS_OPERATIONS): number =>
  ops.reduce((sum, op) => sum + (stats.operations[op]?.requests ?? 0), 0);
