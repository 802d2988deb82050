import type { Server } from "node:http";
import { createHttpsServer } from "@vercel/cosmosdb-server";

/**
 * The key of the Cosmos DB emulator, published by Microsoft for local use.
 * The local server accepts any key; production reads COSMOS_KEY from a secret.
 */
export const LOCAL_COSMOS_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

/**
 * A Cosmos DB compatible server (HTTPS, self-signed) in this process, so
 * `@azure/cosmos` code runs unchanged locally. Data lives in memory.
 */
export const startCosmos = async (port: number): Promise<{ endpoint: string; key: string; stop(): Promise<void> }> => {
  const server: Server = createHttpsServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    endpoint: `https://127.0.0.1:${port}`,
    key: LOCAL_COSMOS_KEY,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
};
