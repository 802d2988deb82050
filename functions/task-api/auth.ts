/**
 * Bearer JWT authentication: HS256 with AUTH_JWT_SECRET, or keys from
 * AUTH_JWKS_URL (RS256/ES256). The token's `sub` is the user id.
 */
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTVerifyGetKey } from "jose";
import { z } from "zod";

export const AuthConfig = z
  .object({
    AUTH_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
  })
  .refine((c) => c.AUTH_JWT_SECRET || c.AUTH_JWKS_URL, {
    message: "set AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL",
    path: ["AUTH_JWT_SECRET"],
  });
export type AuthConfig = z.output<typeof AuthConfig>;

export class Unauthorized extends Error {
  override readonly name = "Unauthorized";
}

export type Authenticate = (authorization: string | undefined) => Promise<{ userId: string }>;

export const createAuthenticator = (config: AuthConfig): Authenticate => {
  const secret = config.AUTH_JWT_SECRET ? new TextEncoder().encode(config.AUTH_JWT_SECRET) : undefined;
  const jwks: JWTVerifyGetKey | undefined = config.AUTH_JWKS_URL ? createRemoteJWKSet(new URL(config.AUTH_JWKS_URL)) : undefined;
  const claims = {
    ...(config.AUTH_ISSUER ? { issuer: config.AUTH_ISSUER } : {}),
    ...(config.AUTH_AUDIENCE ? { audience: config.AUTH_AUDIENCE } : {}),
  };
  // A verified token's user, until the token expires (at most VERIFIED_TOKEN_TTL_MS): clients send
  // the same token with every request, and verifying its signature is most of what a request costs.
  const verified = new Map<string, { userId: string; until: number }>();
  return async (authorization) => {
    const match = /^Bearer (\S+)$/i.exec(authorization ?? "");
    if (!match) throw new Unauthorized("missing bearer token");
    const token = match[1]!;
    const known = verified.get(token);
    if (known && known.until > Date.now()) return { userId: known.userId };
    const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString() || "{}") as { alg?: string };
    try {
      const { payload } =
        header.alg === "HS256" && secret
          ? await jwtVerify(token, secret, { algorithms: ["HS256"], ...claims })
          : jwks
            ? await jwtVerify(token, jwks, { algorithms: ["RS256", "ES256"], ...claims })
            : (() => {
                throw new Unauthorized(`tokens signed with ${header.alg ?? "no algorithm"} are not accepted`);
              })();
      if (!payload.sub) throw new Unauthorized("token has no sub");
      remember(verified, token, { userId: payload.sub, until: Math.min((payload.exp ?? 0) * 1000, Date.now() + VERIFIED_TOKEN_TTL_MS) });
      return { userId: payload.sub };
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
      throw new Unauthorized(`invalid token: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
};

/** How long a verified token is trusted without checking its signature again, and how many are kept. */
const VERIFIED_TOKEN_TTL_MS = 60_000;
const VERIFIED_TOKENS = 10_000;

const remember = (cache: Map<string, { userId: string; until: number }>, token: string, entry: { userId: string; until: number }) => {
  cache.delete(token);
  cache.set(token, entry);
  if (cache.size > VERIFIED_TOKENS) cache.delete(cache.keys().next().value!);
};

/** Mints an HS256 token for `userId` (local development and tests). */
export const mintToken = (secret: string, userId: string, ttl = "12h"): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuedAt().setExpirationTime(ttl).sign(new TextEncoder().encode(secret));
