import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, type JWK } from "jose";
import { signToken } from "./tokens.js";

// ---------------------------------------------------------------------------------------------
// A JWKS endpoint over real HTTP, with a request counter and a key set that can be replaced.

export type JwksServer = { url: string; keys: JWK[]; requests: number; close: () => Promise<void> };

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { keys, requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests += 1;
    if (req.method !== "GET" || req.url !== "/.well-known/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get keys() {
      return state.keys;
    },
    set keys(next: JWK[]) {
      state.keys = next;
    },
    get requests() {
      return state.requests;
    },
    set requests(value: number) {
      state.requests = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type SigningKey = {
  kid: string;
  alg: "RS256" | "ES256";
  jwk: JWK;
  publicKeyPem: string;
  sign: (payload: Record<string, unknown>, kid?: string) => Promise<string>;
};

export async function signingKey(alg: "RS256" | "ES256", kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  return {
    kid,
    alg,
    jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" },
    publicKeyPem: await exportSPKI(publicKey),
    sign: (payload, signKid = kid) => signToken(payload, privateKey, { alg, kid: signKid }),
  };
}
