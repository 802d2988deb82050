/**
 * Local sign-in: task-api verifies HS256 tokens with AUTH_JWT_SECRET. For local
 * runs the secret is generated once per data directory (unless the environment
 * sets one) and tokens are minted with it.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const devAuthSecret = (dataDir: string): string => {
  const fromEnv = process.env["AUTH_JWT_SECRET"];
  if (fromEnv) return fromEnv;
  const file = join(dataDir, "dev-auth-secret");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  }
  return readFileSync(file, "utf8").trim();
};
