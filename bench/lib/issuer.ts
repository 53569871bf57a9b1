/**
 * The benchmark's token issuer: one RS256 key, its JWKS and discovery document served on
 * loopback, and a synchronous signer fast enough to mint tens of thousands of tokens (an RSA-2048
 * signature costs about 0.2 ms). Tokens are shaped like a Keycloak client-credentials access token
 * (about 900 bytes), so header parsing and signature checks cost what they cost in production.
 */
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const AUDIENCE = 'stepgate';
export const SCOPE = 'bench:read';

export interface BenchIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** An access token for client `n` (distinct `sub`, `jti`), valid for an hour unless overridden. */
  token(n: number, overrides?: Record<string, unknown>): string;
  /** A token whose signature was made by another key: fails only at the signature check. */
  forgedToken(n: number): string;
  close(): Promise<void>;
}

const b64 = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

function signer(
  key: KeyObject,
  kid: string,
): (payload: Record<string, unknown>) => string {
  const header = b64({ alg: 'RS256', typ: 'at+jwt', kid });
  return (payload) => {
    const input = `${header}.${b64(payload)}`;
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  };
}

export async function startBenchIssuer(): Promise<BenchIssuer> {
  const kid = `bench-${randomUUID()}`;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
  });
  const other = createPrivateKey(
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    }),
  );
  const jwks = JSON.stringify({
    keys: [
      { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' },
    ],
  });

  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    } else if (req.url === '/.well-known/openid-configuration') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const signGood = signer(privateKey, kid);
  const signForged = signer(other, kid);
  const claims = (
    n: number,
    overrides: Record<string, unknown> = {},
  ): Record<string, unknown> => {
    const iat = Math.floor(Date.now() / 1000);
    return {
      exp: iat + 3600,
      iat,
      jti: randomUUID(),
      iss: issuer,
      aud: AUDIENCE,
      sub: `6f1c2a54-8d3e-4b8a-9c1f-${String(n).padStart(12, '0')}`,
      typ: 'Bearer',
      azp: `ci-bot-${n % 50}`,
      scope: `openid ${SCOPE} orders:read profile email`,
      client_id: `ci-bot-${n % 50}`,
      email: `ci-bot-${n % 50}@service.example.com`,
      preferred_username: `service-account-ci-bot-${n % 50}`,
      realm_access: {
        roles: [
          'default-roles-platform',
          'offline_access',
          'uma_authorization',
        ],
      },
      groups: ['/platform/ci', '/platform/deployers'],
      ...overrides,
    };
  };

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    token: (n, overrides) => signGood(claims(n, overrides)),
    forgedToken: (n) => signForged(claims(n)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
