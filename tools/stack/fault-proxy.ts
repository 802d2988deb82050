/**
 * A TCP proxy on loopback that can take a dependency away on purpose: put it
 * between a function and its store (Cosmos DB, say) and the store can be made
 * to refuse every connection (down) or to accept and never answer (stalled),
 * then come back, without losing what it holds. Bytes pass through untouched
 * (TLS included) while it is up.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export type FaultMode = "up" | "down" | "stalled";

export interface FaultProxy {
  port: number;
  mode: FaultMode;
  /** Switches the mode; going down or stalled cuts the connections open now. */
  set(mode: FaultMode): void;
  close(): Promise<void>;
}

export const startFaultProxy = async (target: { host?: string; port: number }): Promise<FaultProxy> => {
  const open = new Set<Socket>();
  let mode: FaultMode = "up";
  const server: Server = createServer((client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    if (mode === "down") return void client.destroy();
    if (mode === "stalled") return; // accepted, never answered
    const upstream = connect({ host: target.host ?? "127.0.0.1", port: target.port });
    open.add(upstream);
    upstream.once("close", () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => upstream.destroy());
    client.once("close", () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const proxy: FaultProxy = {
    port: typeof address === "object" && address ? address.port : 0,
    get mode() {
      return mode;
    },
    set(next) {
      mode = next;
      if (next !== "up") for (const socket of open) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
};
