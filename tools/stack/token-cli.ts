/** `npm run token -- <user-id> [ttl]`: a bearer token for task-api, signed with the local dev secret. */
import { mintToken } from "../../functions/task-api/auth.ts";
import { devAuthSecret } from "./dev-auth.ts";
import { defaultDataDir } from "./paths.ts";

const [userId, ttl = "12h"] = process.argv.slice(2);
if (!userId) {
  process.stderr.write("usage: npm run token -- <user-id> [ttl, e.g. 12h]\n");
  process.exit(2);
}
// AUTH_ISSUER and AUTH_AUDIENCE, when set, go into the token (a cluster's task-api checks them).
const claims = { issuer: process.env["AUTH_ISSUER"], audience: process.env["AUTH_AUDIENCE"] };
process.stdout.write(`${await mintToken(devAuthSecret(defaultDataDir()), userId, ttl, claims)}\n`);
