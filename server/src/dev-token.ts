import { setClaimPath } from "@circl-bff/shared";
import { SignJWT } from "jose";

export const DEV_IDENTITY = { sub: "dev-user", tenantId: "dev-tenant", roles: ["admin"], topics: ["*"] } as const;

/** An access token for local development, signed with the (random) dev `JWT_SECRET`. */
export async function mintDevToken(
  secret: Uint8Array,
  claims: {
    sub: string;
    tenantClaim: string;
    tenantId: string;
    rolesClaim: string;
    roles: readonly string[];
    /** Topic patterns the user may follow (`JWT_TOPICS_CLAIM`), e.g. `["*"]` for every topic of the tenant. */
    topicsClaim?: string;
    topics?: readonly string[];
  },
  ttl = "24h",
): Promise<string> {
  const payload: Record<string, unknown> = {};
  setClaimPath(payload, claims.tenantClaim, claims.tenantId);
  setClaimPath(payload, claims.rolesClaim, [...claims.roles]);
  if (claims.topicsClaim !== undefined && claims.topics !== undefined) {
    setClaimPath(payload, claims.topicsClaim, [...claims.topics]);
  }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(secret);
}

export function devBanner(baseUrl: string, token: string, bus: string): string {
  return [
    "",
    `circl-bff is running in development mode (${bus === "memory" ? "in-process bus" : `${bus} bus`}).`,
    `Demo page:  ${baseUrl}/`,
    `Dev access token (user ${DEV_IDENTITY.sub}, tenant ${DEV_IDENTITY.tenantId}, roles admin, every topic, valid 24 h):`,
    "",
    `  export TOKEN=${token}`,
    "",
    "Open a stream:",
    `  curl -N -H "Authorization: Bearer $TOKEN" ${baseUrl}/events/stream`,
    "Publish an event to yourself:",
    `  curl -X POST -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `       -d '{"type":"hello","data":{"text":"hi"},"to":"me"}' ${baseUrl}/events/publish`,
    "From a browser (EventSource takes a stream token in the URL):",
    `  const { token } = await (await fetch('${baseUrl}/events/token', { method: 'POST', headers: { authorization: 'Bearer ${token.slice(0, 12)}…' } })).json();`,
    `  new EventSource('${baseUrl}/events/stream?token=' + token).addEventListener('hello', (e) => console.log(e.data));`,
    "Call the upstream API through the gateway:",
    `  curl -H "Authorization: Bearer $TOKEN" ${baseUrl}/api/whoami`,
    "",
  ].join("\n");
}
