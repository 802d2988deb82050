/**
 * The local Cosmos DB compatible server (@vercel/cosmosdb-server) as a process
 * of its own, so it never shares an event loop with what drives it. HTTPS with
 * a self-signed certificate and keep-alive: a TLS handshake per request would
 * cost more than the request.
 *
 * It counts the requests it serves by operation, with the bytes they carried,
 * and serves the counts as JSON on COSMOS_STATS_PORT (plain HTTP, loopback):
 * the measure of what each write costs in Cosmos DB.
 *
 *   COSMOS_PORT=8081 COSMOS_STATS_PORT=8082 node --import tsx tools/stack/cosmos-server.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createHttpsServer } from "@vercel/cosmosdb-server";
import { classifyCosmosRequest, emptyCosmosStats, operationsOfBulk, type CosmosOperation, type CosmosStats } from "./cosmos-cost.ts";

const port = Number(process.env["COSMOS_PORT"]);
const statsPort = Number(process.env["COSMOS_STATS_PORT"]);
if (!Number.isInteger(port) || !Number.isInteger(statsPort)) {
  process.stderr.write("cosmos-server: set COSMOS_PORT and COSMOS_STATS_PORT\n");
  process.exit(2);
}

const stats: CosmosStats = emptyCosmosStats();
const tally = (op: CosmosOperation, count: number, bytesIn: number, bytesOut: number) => {
  const entry = stats.operations[op] ?? { count: 0, bytesIn: 0, bytesOut: 0 };
  stats.operations[op] = entry;
  entry.count += count;
  entry.bytesIn += bytesIn;
  entry.bytesOut += bytesOut;
};

const count = (request: IncomingMessage, response: ServerResponse) => {
  const kind = classifyCosmosRequest(request.method ?? "GET", request.url ?? "/", request.headers);
  stats.requests++;
  const chunks: Buffer[] = [];
  // Listening too does not take the body from the server: every listener sees every chunk.
  if (kind === "batch") request.on("data", (chunk: Buffer) => chunks.push(chunk));
  let bytesOut = 0;
  // The server answers with one end(body) per request.
  const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
  response.end = ((...args: unknown[]) => {
    if (typeof args[0] === "string" || Buffer.isBuffer(args[0])) bytesOut = Buffer.byteLength(args[0]);
    const bytesIn = Number(request.headers["content-length"] ?? 0);
    if (kind !== "batch") {
      tally(kind, 1, bytesIn, bytesOut);
    } else {
      stats.bulkRequests++;
      const ops = operationsOfBulk(Buffer.concat(chunks).toString());
      const n = Object.values(ops).reduce((a, b) => a + b, 0) || 1;
      for (const [op, c] of Object.entries(ops) as [CosmosOperation, number][]) tally(op, c, (bytesIn * c) / n, (bytesOut * c) / n);
    }
    return end(...args);
  }) as ServerResponse["end"];
};

const server = createHttpsServer({ keepAlive: true });
// Connections idle between bursts are kept longer than Node's 5 s default, so clients seldom reconnect.
server.keepAliveTimeout = 60_000;
server.prependListener("request", count);
server.listen(port, "127.0.0.1");

const statsServer = createServer((_request, response) => {
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify(stats));
});
statsServer.listen(statsPort, "127.0.0.1");

const stop = () => {
  server.close();
  server.closeAllConnections();
  statsServer.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
