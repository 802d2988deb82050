/**
 * Bearer JWT authentication: HS256 with AUTH_JWT_SECRET, or keys from
 * AUTH_JWKS_URL (RS256/ES256). The token's `sub` is the user id.
 *
 * A token must carry `exp`, must not be valid for longer than
 * AUTH_MAX_TOKEN_LIFETIME_S (counted from `iat` when it has one, else from
 * now), and must name the configured issuer and audience when they are set.
 * `sub` is a user id of at most 128 letters, digits and `_ . @ : | + -`.
 * Anything else, malformed tokens included, is Unauthorized (401) with the reason.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { Unauthorized } from "../../shared/host/errors.ts";
import { UserId } from "./model.ts";

export const AuthConfig = z
  .object({
    AUTH_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    /** The longest a token may be valid: a leaked token is worth at most this. */
    AUTH_MAX_TOKEN_LIFETIME_S: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(86_400),
  })
  .refine((c) => c.AUTH_JWT_SECRET || c.AUTH_JWKS_URL, {
    message: "set AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL",
    path: ["AUTH_JWT_SECRET"],
  });
export type AuthConfig = z.input<typeof AuthConfig>;

export { Unauthorized };

export type Authenticate = (authorization: string | undefined) => Promise<{ userId: string }>;

/** Clock difference between the token's issuer and this server that is forgiven. */
const CLOCK_TOLERANCE_S = 30;

export const createAuthenticator = (input: AuthConfig): Authenticate => {
  const config = AuthConfig.parse(input);
  const secret = config.AUTH_JWT_SECRET ? new TextEncoder().encode(config.AUTH_JWT_SECRET) : undefined;
  const jwks: JWTVerifyGetKey | undefined = config.AUTH_JWKS_URL ? createRemoteJWKSet(new URL(config.AUTH_JWKS_URL)) : undefined;
  const options = {
    requiredClaims: ["exp", "sub"],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(config.AUTH_ISSUER ? { issuer: config.AUTH_ISSUER } : {}),
    ...(config.AUTH_AUDIENCE ? { audience: config.AUTH_AUDIENCE } : {}),
  };
  const verify = async (token: string): Promise<JWTPayload> => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new Unauthorized("malformed token: expected header.payload.signature in base64url JSON");
    }
    if (alg === "HS256" && secret) return (await jwtVerify(token, secret, { ...options, algorithms: ["HS256"] })).payload;
    if (jwks && (alg === "RS256" || alg === "ES256")) return (await jwtVerify(token, jwks, { ...options, algorithms: ["RS256", "ES256"] })).payload;
    throw new Unauthorized(`tokens signed with ${alg ?? "no algorithm"} are not accepted`);
  };

  // A verified token's user, until the token expires (at most VERIFIED_TOKEN_TTL_MS): clients send
  // the same token with every request, and verifying its signature is most of what a request costs.
  const verified = new Map<string, { userId: string; until: number }>();
  return async (authorization) => {
    const match = /^Bearer ([\w.~+/=-]{1,8192})$/i.exec(authorization ?? "");
    if (!match) throw new Unauthorized(authorization ? "malformed authorization header: expected Bearer <token>" : "missing bearer token");
    const token = match[1]!;
    const known = verified.get(token);
    if (known && known.until > Date.now()) return { userId: known.userId };
    let payload: JWTPayload;
    try {
      payload = await verify(token);
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
      throw new Unauthorized(`invalid token: ${err instanceof Error ? err.message : String(err)}`);
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp!;
    if (exp - Math.min(payload.iat ?? now, now) > config.AUTH_MAX_TOKEN_LIFETIME_S) {
      throw new Unauthorized(`token is valid for longer than ${config.AUTH_MAX_TOKEN_LIFETIME_S} s`);
    }
    const sub = UserId.safeParse(payload.sub);
    if (!sub.success) throw new Unauthorized(`token sub is not a user id: ${sub.error.issues[0]?.message ?? "invalid"}`);
    remember(verified, token, { userId: sub.data, until: Math.min(exp * 1000, Date.now() + VERIFIED_TOKEN_TTL_MS) });
    return { userId: sub.data };
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

/** Mints an HS256 token for `userId` (local development, tests, a cluster's demo user), with the issuer and audience task-api expects when it expects them. */
export const mintToken = (
  secret: string,
  userId: string,
  ttl = "12h",
  claims: { issuer?: string | undefined; audience?: string | undefined } = {},
): Promise<string> => {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuedAt().setExpirationTime(ttl);
  if (claims.issuer) jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
};
