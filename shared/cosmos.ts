import { Agent } from "node:https";
import { CosmosClient, type Container, type ContainerRequest, type Database } from "@azure/cosmos";
import { z } from "zod";

/** Cosmos DB settings shared by the functions that keep data there. */
export const CosmosConfig = z.object({
  COSMOS_ENDPOINT: z.url(),
  COSMOS_KEY: z.string().min(1),
  COSMOS_DATABASE: z.string().min(1).default("taskapp"),
  /** Only for the local Cosmos-compatible server, whose certificate is self-signed. */
  COSMOS_ALLOW_SELF_SIGNED: z.stringbool().default(false),
});
export type CosmosConfig = z.output<typeof CosmosConfig>;

/** One client per process (it pools connections); the database is created if missing. */
export const openCosmosDatabase = async (config: CosmosConfig): Promise<Database> => {
  const client = new CosmosClient({
    endpoint: config.COSMOS_ENDPOINT,
    key: config.COSMOS_KEY,
    ...(config.COSMOS_ALLOW_SELF_SIGNED ? { agent: new Agent({ rejectUnauthorized: false, keepAlive: true }) } : {}),
    connectionPolicy: { enableEndpointDiscovery: !config.COSMOS_ALLOW_SELF_SIGNED },
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

/** The audit trail container: written by audit-service, read by task-api. Partitioned by task id. */
export const AUDIT_CONTAINER: ContainerRequest = { id: "audit", partitionKey: { paths: ["/taskId"] } };
