#!/usr/bin/env node
import { parseArgs } from "node:util";
import { mintDevAccessToken } from "./testing/dev-token.js";

const USAGE = `usage: circl-bff token --sub <user> --tenant <tenant> [--roles a,b] [--ttl <seconds>] [--secret <JWT_SECRET>]
                      [--tenant-claim tenantId] [--roles-claim roles] [--issuer <iss>] [--audience <aud>]
Prints an HS256 development access token for the gateway. The secret defaults to $JWT_SECRET.
Refuses to run when NODE_ENV=production.`;

function fail(message: string): never {
  process.stderr.write(`circl-bff: ${message}\n${USAGE}\n`);
  process.exit(1);
}

const [command, ...rest] = process.argv.slice(2);
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
