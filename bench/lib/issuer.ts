/**
 * The benchmark's token issuer: an RS256 key, its JWKS served on loopback, and a synchronous
 * signer. Tokens are shaped like a Keycloak client-credentials access token (about 1.1 KB), so
 * header parsing and signature checks cost what they cost in production.
 *
 * The key (and a second one, for forged signatures) is kept in the stepgate cache directory
 * (`$STEPGATE_CACHE_DIR/bench/`, test-only keys), and `iss` does not name the JWKS server's port,
 * so token sets signed once stay valid across runs (workloads.ts): signing 60,000 RSA-2048 tokens
 * takes a minute on a busy machine, which `--quick` cannot afford on every run.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { homedir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const AUDIENCE = 'stepgate';
export const SCOPE = 'bench:read';
/** The tokens' `iss`: loopback, so the gateway accepts it over http; no port, so it never changes. */
export const BENCH_ISS = 'http://127.0.0.1/stepgate-bench';
/** How long the tokens are valid: sets older than `TOKEN_SET_MAX_AGE_MS` are signed again. */
export const TOKEN_LIFETIME_SEC = 7 * 24 * 3600;
export const TOKEN_SET_MAX_AGE_MS = 6 * 24 * 3600 * 1000;

export interface BenchIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** Names the signing key: token sets are cached per key. */
  readonly kid: string;
  /** Where this key's token sets are cached. */
  readonly cacheDir: string;
  /** An access token for client `n` (distinct `sub`, `jti`), valid a week unless overridden. */
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

/** Writes `text` to `file` atomically: the cache is shared with other engineers' runs. */
export function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

interface StoredKeys {
  readonly kid: string;
  readonly key: string;
  readonly other: string;
}

/** The bench's keys: read from the cache, or generated and stored there. */
function benchKeys(dir: string): StoredKeys {
  const file = join(dir, 'issuer-keys.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StoredKeys;
  } catch {
    const pem = () =>
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        format: 'pem',
        type: 'pkcs8',
      }) as string;
    const keys: StoredKeys = {
      kid: `bench-${randomUUID()}`,
      key: pem(),
      other: pem(),
    };
    mkdirSync(dir, { recursive: true });
    writeAtomically(file, JSON.stringify(keys));
    // Another run may have stored its keys first: use whichever is there now.
    return JSON.parse(readFileSync(file, 'utf8')) as StoredKeys;
  }
}

export async function startBenchIssuer(): Promise<BenchIssuer> {
  const root = join(
    process.env['STEPGATE_CACHE_DIR'] ?? join(homedir(), '.cache', 'stepgate'),
    'bench',
  );
  const { kid, key, other } = benchKeys(root);
  const privateKey = createPrivateKey(key);
  const jwks = JSON.stringify({
    keys: [
      {
        ...createPublicKey(privateKey).export({ format: 'jwk' }),
        kid,
        alg: 'RS256',
        use: 'sig',
      },
    ],
  });

  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const signGood = signer(privateKey, kid);
  const signForged = signer(createPrivateKey(other), kid);
  const claims = (
    n: number,
    overrides: Record<string, unknown> = {},
  ): Record<string, unknown> => {
    const iat = Math.floor(Date.now() / 1000);
    return {
      exp: iat + TOKEN_LIFETIME_SEC,
      iat,
      jti: randomUUID(),
      iss: BENCH_ISS,
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
    issuer: BENCH_ISS,
    jwksUri: `${base}/jwks`,
    kid,
    cacheDir: join(root, kid),
    token: (n, overrides) => signGood(claims(n, overrides)),
    forgedToken: (n) => signForged(claims(n)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
