#!/usr/bin/env node
import { parseArgs } from "node:util";
import { mintDevAccessToken } from "./testing/dev-token.js";

const USAGE = `usage: circl-bff token --sub <user> --tenant <tenant> [--roles a,b] [--ttl <seconds>] [--secret <JWT_SECRET>]
                      [--tenant-claim tenantId] [--roles-claim roles] [--issuer <iss>] [--audience <aud>]
       circl-bff --help`;

const HELP = `circl-bff: development tools for the circl-bff gateway.

${USAGE}

Commands:
  token    Prints an HS256 development access token (a JWT) on stdout.

Options of token:
  --sub <user>            the user id (the token's sub claim); required
  --tenant <tenant>       the tenant id; required
  --roles <a,b>           comma-separated roles (admin may publish to the whole tenant)
  --ttl <seconds>         lifetime in seconds (default 3600)
  --secret <secret>       the HS256 key, at least 32 bytes (default: $JWT_SECRET)
  --tenant-claim <path>   claim that holds the tenant, as the gateway's JWT_TENANT_CLAIM (default tenantId)
  --roles-claim <path>    claim that holds the roles, as the gateway's JWT_ROLES_CLAIM (default roles)
  --issuer <iss>          the iss claim, when the gateway sets JWT_ISSUER
  --audience <aud>        the aud claim, when the gateway sets JWT_AUDIENCE

The gateway accepts the token only when it verifies with the same secret: start it with the same
JWT_SECRET (without one, \`npm start\` picks a random secret per start and prints its own token).
Refuses to run when NODE_ENV=production: real tokens come from your identity provider.

Example:
  export JWT_SECRET=$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")
  TOKEN=$(npx circl-bff token --sub alice --tenant acme --roles admin)
  curl -N -H "Authorization: Bearer $TOKEN" http://localhost:3000/events/stream`;

function fail(message: string): never {
  process.stderr.write(`circl-bff: ${message}\n${USAGE}\nRun circl-bff --help for the options.\n`);
  process.exit(1);
}

const [command, ...rest] = process.argv.slice(2);
const asksHelp = (arg: string) => arg === "--help" || arg === "-h";
if (
  command === "help" ||
  (command !== undefined && asksHelp(command)) ||
  (command === "token" && rest.some(asksHelp))
) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
if (command !== "token") fail(command === undefined ? "missing command" : `unknown command "${command}"`);
if (process.env.NODE_ENV === "production") fail("refusing to mint development tokens when NODE_ENV=production");

let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    args: rest,
    options: {
      sub: { type: "string" },
      tenant: { type: "string" },
      roles: { type: "string" },
      ttl: { type: "string" },
      secret: { type: "string" },
      "tenant-claim": { type: "string" },
      "roles-claim": { type: "string" },
      issuer: { type: "string" },
      audience: { type: "string" },
    },
    strict: true,
  }));
} catch (error) {
  fail((error as Error).message);
}
const secret = values.secret ?? process.env.JWT_SECRET;
if (values.sub === undefined || values.sub === "") fail("--sub is required");
if (values.tenant === undefined || values.tenant === "") fail("--tenant is required");
if (secret === undefined || secret === "") fail("--secret or JWT_SECRET is required");
const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) fail("--ttl must be a positive number of seconds");

try {
  const token = mintDevAccessToken(secret, {
    sub: values.sub,
    tenantId: values.tenant,
    roles: values.roles?.split(",").filter((role) => role !== "") ?? [],
    ttlSeconds: ttl,
    tenantClaim: values["tenant-claim"],
    rolesClaim: values["roles-claim"],
    issuer: values.issuer,
    audience: values.audience,
  });
  process.stdout.write(`${token}\n`);
} catch (error) {
  fail((error as Error).message);
}
