/**
 * What Cosmos DB requests cost. The local server counts what it serves: HTTP
 * requests (round trips, each a batch of operations or a single one) and the
 * operations they carried (a bulk request's operations one by one), with their
 * bytes. This module turns the counts into request-unit equivalents with
 * Cosmos DB's planning figures. The local server always reports 1 RU, so the
 * figures here are a model, not a bill: good enough to see a write path grow
 * a round trip or an operation, not to size a production account.
 *
 *   point read       1 RU per KB returned
 *   write            5 RU per KB sent (create, replace, upsert, patch, delete)
 *   query            3 RU per page, plus 1 RU per KB returned
 *   metadata         1 RU (databases, containers, partition key ranges)
 */
import type { IncomingHttpHeaders } from "node:http";

export const COSMOS_OPERATIONS = ["read", "create", "replace", "upsert", "patch", "delete", "query", "metadata"] as const;
export type CosmosOperation = (typeof COSMOS_OPERATIONS)[number];

export interface OperationCount {
  count: number;
  bytesIn: number;
  bytesOut: number;
}

export interface CosmosStats {
  /** HTTP round trips: single operations and bulk requests. */
  requests: number;
  /** Of which bulk (batch) requests. */
  bulkRequests: number;
  operations: Partial<Record<CosmosOperation, OperationCount>>;
}

export const emptyCosmosStats = (): CosmosStats => ({ requests: 0, bulkRequests: 0, operations: {} });

const DOCUMENT = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/]+$/;
const DOCUMENTS = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/?$/;

const flag = (headers: IncomingHttpHeaders, name: string): boolean => String(headers[name]).toLowerCase() === "true";

/** What a request to the Cosmos DB REST API does: one operation, or a bulk request ("batch"). */
export const classifyCosmosRequest = (method: string, url: string, headers: IncomingHttpHeaders): CosmosOperation | "batch" => {
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

const BULK_OPERATION_TYPES: Record<string, CosmosOperation> = {
  Create: "create",
  Upsert: "upsert",
  Read: "read",
  Delete: "delete",
  Replace: "replace",
  Patch: "patch",
};

/** The operations of a bulk request body, by type (bytes shared out evenly). */
export const operationsOfBulk = (body: string): Partial<Record<CosmosOperation, number>> => {
  const counts: Partial<Record<CosmosOperation, number>> = {};
  for (const match of body.matchAll(/"operationType":"(\w+)"/g)) {
    const op = BULK_OPERATION_TYPES[match[1]!];
    if (op) counts[op] = (counts[op] ?? 0) + 1;
  }
  return counts;
};

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** Request-unit equivalents of the counted operations (see the model above). */
export const requestUnitsOf = (stats: CosmosStats): number => {
  let units = 0;
  for (const [op, c] of Object.entries(stats.operations) as [CosmosOperation, OperationCount][]) {
    if (c.count === 0) continue;
    switch (op) {
      case "read":
        units += c.count * kb(c.bytesOut / c.count);
        break;
      case "query":
        units += c.count * (3 + kb(c.bytesOut / c.count));
        break;
      case "metadata":
        units += c.count;
        break;
      default:
        units += c.count * 5 * kb(c.bytesIn / c.count);
    }
  }
  return units;
};

/** The counts of some operations only (say, point operations, leaving out a periodic query). */
export const onlyOperations = (stats: CosmosStats, ops: readonly CosmosOperation[]): CosmosStats => ({
  ...stats,
  operations: Object.fromEntries(ops.flatMap((op) => (stats.operations[op] ? [[op, stats.operations[op]]] : []))),
});

/** What happened between two snapshots of the counts. */
export const statsSince = (before: CosmosStats, after: CosmosStats): CosmosStats => {
  const operations: CosmosStats["operations"] = {};
  for (const op of COSMOS_OPERATIONS) {
    const a = after.operations[op];
    if (!a) continue;
    const b = before.operations[op] ?? { count: 0, bytesIn: 0, bytesOut: 0 };
    if (a.count === b.count) continue;
    operations[op] = { count: a.count - b.count, bytesIn: a.bytesIn - b.bytesIn, bytesOut: a.bytesOut - b.bytesOut };
  }
  return { requests: after.requests - before.requests, bulkRequests: after.bulkRequests - before.bulkRequests, operations };
};
