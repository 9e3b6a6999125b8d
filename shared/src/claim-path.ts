/**
 * Sets a claim by dotted path (`app_metadata.tenant_id` → `{app_metadata: {tenant_id}}`), the
 * way `JWT_TENANT_CLAIM` / `JWT_ROLES_CLAIM` name nested claims. For minting tokens (the dev
 * token, the client's test kit); the gateway reads claims with the same convention.
 */
export function setClaimPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1) as string] = value;
}
