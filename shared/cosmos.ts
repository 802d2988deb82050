import { Agent } from "node:https";
import { BulkOperationType, CosmosClient, type Container, type ContainerRequest, type Database, type JSONObject } from "@azure/cosmos";
import { z } from "zod";
import { Coalescer, type Outcome } from "./coalesce.ts";

/** Cosmos DB settings shared by the functions that keep data there. */
export const CosmosConfig = z.object({
  COSMOS_ENDPOINT: z.url(),
  COSMOS_KEY: z.string().min(1),
  COSMOS_DATABASE: z.string().min(1).default("taskapp"),
  /** Only for the local Cosmos-compatible server, whose certificate is self-signed. */
  COSMOS_ALLOW_SELF_SIGNED: z.stringbool().default(false),
  /**
   * How long one request may take before it fails (then the API answers 503, a consumer retries):
   * a stalled store must not hold requests for the SDK's default minute.
   */
  COSMOS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(500).max(120_000).default(10_000),
});
export type CosmosConfig = z.output<typeof CosmosConfig>;

/** One client per process (it pools connections); the database is created if missing. */
export const openCosmosDatabase = async (config: CosmosConfig): Promise<Database> => {
  const client = new CosmosClient({
    endpoint: config.COSMOS_ENDPOINT,
    key: config.COSMOS_KEY,
    ...(config.COSMOS_ALLOW_SELF_SIGNED ? { agent: new Agent({ rejectUnauthorized: false, keepAlive: true }) } : {}),
    connectionPolicy: {
      enableEndpointDiscovery: !config.COSMOS_ALLOW_SELF_SIGNED,
      requestTimeout: config.COSMOS_REQUEST_TIMEOUT_MS,
      // Throttling (429) is retried briefly here; longer waits are the caller's (503 + Retry-After, a redelivery).
      retryOptions: { maxRetryAttemptCount: 3, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 5 },
    },
  });
  const { database } = await evenIfCreatedMeanwhile(() => client.databases.createIfNotExists({ id: config.COSMOS_DATABASE }));
  return database;
};

/** A container of the database, created if missing. */
export const openContainer = async (database: Database, request: ContainerRequest): Promise<Container> => {
  const { container } = await evenIfCreatedMeanwhile(() => database.containers.createIfNotExists(request));
  return container;
};

/** The HTTP status of a Cosmos DB error (409 conflict, 412 precondition failed, …). */
export const cosmosStatusOf = (err: unknown): number | undefined =>
  typeof err === "object" && err !== null && "code" in err && typeof err.code === "number" ? err.code : undefined;

/**
 * Cosmos DB could not serve the request now, but may in a moment: throttled
 * (429), unavailable (503), timed out (408), or out of reach (a network error).
 * An API answers these with 503 and Retry-After rather than 500.
 */
export const isCosmosUnavailable = (err: unknown): boolean => {
  const status = cosmosStatusOf(err);
  if (status !== undefined) return [408, 429, 449, 503].includes(status);
  if (typeof err !== "object" || err === null) return false;
  const { code, name } = err as { code?: unknown; name?: unknown };
  return (typeof code === "string" && /^E[A-Z]+$/.test(code)) || name === "TimeoutError" || name === "AbortError";
};

/**
 * createIfNotExists reads, then creates on 404: when another function creates
 * the same database or container in between (functions start together), the
 * create answers 409. Asking again then finds it.
 */
const evenIfCreatedMeanwhile = async <T>(open: () => Promise<T>): Promise<T> => {
  try {
    return await open();
  } catch (err) {
    if (cosmosStatusOf(err) !== 409) throw err;
    return open();
  }
};

/** What one point operation answered: its status, and the document for a success. */
export interface PointResult<T> {
  status: number;
  resource?: T & { _etag?: string };
}

type PointOperation =
  | { operationType: typeof BulkOperationType.Create; partitionKey: string; resourceBody: JSONObject }
  | { operationType: typeof BulkOperationType.Replace; partitionKey: string; id: string; ifMatch?: string; resourceBody: JSONObject }
  | { operationType: typeof BulkOperationType.Read; partitionKey: string; id: string };

/** Statuses a point operation answers as an outcome, not an error: the caller decides. */
const OUTCOME_STATUSES = new Set([200, 201, 404, 409, 412]);

/** An error with the status of a failed point operation, read back by cosmosStatusOf. */
export class CosmosOperationError extends Error {
  override readonly name = "CosmosOperationError";
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/**
 * Point operations on one container (create, conditional replace, read) that
 * travel in Cosmos DB bulk requests when several are ready at once: under
 * load, one request and one TLS record carry many writes; alone, an operation
 * leaves at once. Conflicts (409), failed preconditions (412) and absence
 * (404) come back as statuses; throttling, time-outs and server errors as a
 * CosmosOperationError with the status, like the SDK's own errors.
 *
 * `items.bulk` sends at once; its successor `executeBulkOperations` waits a
 * second for a batch to fill, which would add that second to every write.
 */
export class BulkItems {
  private readonly operations: Coalescer<PointOperation, PointResult<unknown>>;

  constructor(
    private readonly container: Container,
    options: { maxInFlight: number } = { maxInFlight: 1 },
  ) {
    this.operations = new Coalescer((ops) => this.send(ops), { maxBatch: BULK_OPERATIONS_LIMIT, maxInFlight: options.maxInFlight });
  }

  create<T extends object>(doc: T & { id: string }, partitionKey: string): Promise<PointResult<T>> {
    return this.submit({ operationType: BulkOperationType.Create, partitionKey, resourceBody: doc as unknown as JSONObject });
  }

  /** Replaces the document if its ETag is still `ifMatch` (412 when it changed, 404 when it is gone). */
  replace<T extends object>(doc: T & { id: string }, partitionKey: string, ifMatch: string): Promise<PointResult<T>> {
    return this.submit({
      operationType: BulkOperationType.Replace,
      partitionKey,
      id: doc.id,
      ifMatch,
      resourceBody: doc as unknown as JSONObject,
    });
  }

  read<T extends object>(id: string, partitionKey: string): Promise<PointResult<T>> {
    return this.submit({ operationType: BulkOperationType.Read, partitionKey, id });
  }

  private submit<T>(op: PointOperation): Promise<PointResult<T>> {
    return this.operations.submit(op) as Promise<PointResult<T>>;
  }

  private async send(ops: PointOperation[]): Promise<Outcome<PointResult<unknown>>[]> {
    let responses: Awaited<ReturnType<Container["items"]["bulk"]>>;
    try {
      responses = await this.container.items.bulk(ops, { continueOnError: true });
    } catch (err) {
      // The request as a whole failed: without a status of its own (a connection reset, a time-out)
      // the store was out of reach, which callers treat like 503.
      throw new CosmosOperationError(`bulk request failed: ${err instanceof Error ? err.message : String(err)}`, cosmosStatusOf(err) ?? 503);
    }
    return ops.map((op, i): Outcome<PointResult<unknown>> => {
      const response = responses[i];
      const status = response?.statusCode ?? 0;
      if (OUTCOME_STATUSES.has(status)) {
        return { ok: true, value: { status, ...(response?.resourceBody ? { resource: response.resourceBody } : {}) } };
      }
      const what = "id" in op ? op.id : String(op.resourceBody["id"]);
      return { ok: false, error: new CosmosOperationError(`${op.operationType} ${what}: Cosmos DB answered ${status}`, status) };
    });
  }
}

/** Operations per Cosmos DB bulk request at most (the service's limit). */
export const BULK_OPERATIONS_LIMIT = 100;
