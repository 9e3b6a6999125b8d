import type { TokenOwner } from "./identity.js";

/** A revocation as broadcast to every instance. */
export type Revocation = {
  tenantId: string;
  userId: string;
  /** Revokes the tokens with this id (and stream tokens issued for it); else… */
  jti?: string;
  /** …every token of the user issued before this time (epoch seconds). */
  issuedBefore?: number;
  /** Epoch ms after which the revoked tokens have expired anyway and the entry is dropped. */
  until: number;
};

export function revokes(revocation: Revocation, owner: TokenOwner): boolean {
  if (revocation.tenantId !== owner.tenantId || revocation.userId !== owner.userId) return false;
  if (revocation.jti !== undefined) return owner.tokenIds.includes(revocation.jti);
  return revocation.issuedBefore !== undefined && owner.iat <= revocation.issuedBefore;
}

/**
 * Revocations in force on this instance. Entries last until the tokens they revoke would have
 * expired anyway, so memory stays bounded by the revocation rate.
 */
export class RevocationList {
  private readonly byUser = new Map<string, Revocation[]>();

  constructor(private readonly now: () => number = Date.now) {}

  add(revocation: Revocation): void {
    const key = JSON.stringify([revocation.tenantId, revocation.userId]);
    const live = (this.byUser.get(key) ?? []).filter((entry) => entry.until > this.now());
    live.push(revocation);
    this.byUser.set(key, live.slice(-1000));
  }

  isRevoked(owner: TokenOwner): boolean {
    const entries = this.byUser.get(JSON.stringify([owner.tenantId, owner.userId]));
    if (entries === undefined) return false;
    const now = this.now();
    return entries.some((entry) => entry.until > now && revokes(entry, owner));
  }

  /** Drops entries whose tokens have all expired. */
  prune(): void {
    const now = this.now();
    for (const [key, entries] of this.byUser) {
      const live = entries.filter((entry) => entry.until > now);
      if (live.length === 0) this.byUser.delete(key);
      else this.byUser.set(key, live);
    }
  }
}
