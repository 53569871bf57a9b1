/**
 * A minimal token issuer for tests: discovery and JWKS over a real HTTP server on port 0, and a
 * `sign()` that makes whatever token a test needs — GitHub-Actions-shaped CI tokens, or an
 * attacker's. Also the signing helpers the embedded IdP (`idp.ts`) shares, and raw token forgery
 * (`alg: none`, HS256 with a public key as the secret) for confusion attacks.
 *
 *   const gh = await startIssuer();                      // http://127.0.0.1:PORT
 *   const token = await gh.sign(githubActionsClaims({ ref: 'refs/heads/main' }));
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { JWK, JWTHeaderParameters } from 'jose';
import type { IssuerConfig } from '../../src/config/schema.ts';
import { createSigningKey, type SigningKey } from '../../src/dev/signing-key.ts';

/** Header members a test may set; `undefined` removes a default one (e.g. `typ`). */
export type TokenHeader = Partial<Record<keyof JWTHeaderParameters, unknown>> & Record<string, unknown>;
/** Claims a test may set; `undefined` removes a default one (e.g. `exp`). */
export type TokenClaims = Record<string, unknown>;

export const AUDIENCE = 'stepgate';

/**
 * An issuer's config as the schema would produce it, with the schema's defaults, for tests that
 * build a verifier without a config file: `issuerConfig({ name: 'keycloak', issuer: idp.issuer })`.
 */
export function issuerConfig(
  fields: Pick<IssuerConfig, 'issuer'> & Partial<Omit<IssuerConfig, 'issuer'>>,
): IssuerConfig {
  return {
    name: 'test',
    audiences: [AUDIENCE],
    preset: 'generic',
    algorithms: ['RS256', 'ES256'],
    clockSkewSeconds: 30,
    jwksCooldownSeconds: 30,
    jwksCacheMaxAgeSeconds: 600,
    ...fields,
  };
}

export { createSigningKey, type SigningKey };

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function withoutUndefined<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Signs `payload` over defaults that make a valid access token of `iss` (`aud` stepgate, `sub`,
 * `iat`, `exp` in 5 minutes, `jti`) with header `{ alg, kid, typ: 'at+jwt' }`. Anything given
 * overrides a default; `undefined` removes it.
 */
export async function signToken(
  key: SigningKey,
  iss: string,
  payload: TokenClaims = {},
  header: TokenHeader = {},
): Promise<string> {
  const iat = nowSeconds();
  const claims = withoutUndefined({
    iss,
    aud: AUDIENCE,
    sub: 'test-subject',
    iat,
    exp: iat + 300,
    jti: randomUUID(),
    ...payload,
  });
  const protectedHeader = withoutUndefined({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header });
  // Signed with WebCrypto, not jose: jose would refuse the odd headers attacks need (crit, b64).
  const input = `${b64url(protectedHeader)}.${b64url(claims)}`;
  const algorithm = key.alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: 'SHA-256' };
  const signature = await crypto.subtle.sign(algorithm, key.privateKey, Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/**
 * A token jose would never sign: `{ alg: 'none' }` with an empty signature, or any header with a
 * signature computed by HMAC-SHA256 over `secret` (RFC 8725 §2.1 / §3.1 confusion attacks).
 */
export function forgeToken(
  header: TokenHeader,
  payload: TokenClaims,
  signing: { hmacSecret: string | Uint8Array } | 'none' = 'none',
): string {
  const input = `${b64url(withoutUndefined(header))}.${b64url(withoutUndefined(payload))}`;
  if (signing === 'none') return `${input}.`;
  return `${input}.${createHmac('sha256', signing.hmacSecret).update(input).digest('base64url')}`;
}

/** The claims of a GitHub Actions OIDC token for `acme/app` on main; override what a test needs. */
export function githubActionsClaims(overrides: TokenClaims = {}): TokenClaims {
  const repository = typeof overrides['repository'] === 'string' ? overrides['repository'] : 'acme/app';
  const ref = typeof overrides['ref'] === 'string' ? overrides['ref'] : 'refs/heads/main';
  const workflow = `${repository}/.github/workflows/deploy.yml@${ref}`;
  return {
    sub: `repo:${repository}:ref:${ref}`,
    repository,
    repository_owner: repository.split('/')[0],
    repository_visibility: 'private',
    ref,
    ref_type: 'branch',
    environment: 'production',
    workflow: 'deploy',
    workflow_ref: workflow,
    job_workflow_ref: workflow,
    event_name: 'push',
    actor: 'octocat',
    run_id: '6010001',
    run_attempt: '1',
    runner_environment: 'github-hosted',
    ...overrides,
  };
}

export type Down = boolean | '503' | 'reset' | 'hang';

/** Answers a request before the real handler: shared by this issuer and the IdP. */
export interface Outage {
  /**
   * `true`/`'503'`: every request gets a 503; `'reset'`: every connection is destroyed;
   * `'hang'`: requests are never answered (until `close()`).
   */
  setDown(down: Down): void;
  /** True when the request was answered as an outage. */
  intercept(req: IncomingMessage, res: ServerResponse): boolean;
}

export function createOutage(): Outage {
  let mode: Exclude<Down, true> = false;
  return {
    setDown(down) {
      mode = down === true ? '503' : down;
    },
    intercept(req, res) {
      if (mode === false) return false;
      if (mode === 'reset') req.socket.destroy();
      else if (mode === 'hang') req.resume();
      else res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('down for tests');
      return true;
    },
  };
}

/** Listens on 127.0.0.1:0; `close()` also ends kept-alive sockets so tests exit promptly. */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer(handler);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TestIssuer {
  /** `http://127.0.0.1:PORT` plus the path given at start. */
  readonly issuer: string;
  readonly jwksUri: string;
  /** The current signing key. */
  readonly key: SigningKey;
  /** A token signed by the current key (see `signToken` for the defaults). */
  sign(payload?: TokenClaims, header?: TokenHeader): Promise<string>;
  /** A new signing key; the old one leaves the JWKS unless `keepOld`. */
  rotateKeys(options?: { keepOld?: boolean }): Promise<SigningKey>;
  /** Replaces the served JWKS (for junk and empty key sets); a string is served verbatim. */
  serveJwks(document: unknown): void;
  /** Replaces the served discovery document (a string is served verbatim). */
  serveDiscovery(document: unknown): void;
  setDown(down: Down): void;
  jwksRequests(): number;
  discoveryRequests(): number;
  close(): Promise<void>;
}

export async function startIssuer(
  options: { path?: string; alg?: 'RS256' | 'ES256' } = {},
): Promise<TestIssuer> {
  const path = options.path ?? '';
  const alg = options.alg ?? 'RS256';
  let key = await createSigningKey(alg);
  let published: JWK[] = [key.publicJwk];
  let override: unknown;
  let discoveryOverride: unknown;
  let jwksCount = 0;
  let discoveryCount = 0;
  const outage = createOutage();

  const server = await listen((req, res) => {
    const url = req.url ?? '/';
    if (url === `${path}/.well-known/openid-configuration`) discoveryCount++;
    if (url === `${path}/jwks`) jwksCount++;
    if (outage.intercept(req, res)) return;
    const json = (body: unknown) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(typeof body === 'string' ? body : JSON.stringify(body));
    if (url === `${path}/.well-known/openid-configuration`) {
      json(
        discoveryOverride ?? {
          issuer,
          jwks_uri: jwksUri,
          id_token_signing_alg_values_supported: [alg],
          subject_types_supported: ['public'],
        },
      );
    } else if (url === `${path}/jwks`) {
      json(override ?? { keys: published });
    } else {
      res.writeHead(404).end();
    }
  });
  const issuer = `http://127.0.0.1:${server.port}${path}`;
  const jwksUri = `${issuer}/jwks`;

  return {
    issuer,
    jwksUri,
    get key() {
      return key;
    },
    sign: (payload, header) => signToken(key, issuer, payload, header),
    async rotateKeys({ keepOld = false } = {}) {
      key = await createSigningKey(alg);
      published = keepOld ? [key.publicJwk, ...published] : [key.publicJwk];
      override = undefined;
      return key;
    },
    serveJwks(document) {
      override = document;
    },
    serveDiscovery(document) {
      discoveryOverride = document;
    },
    setDown: outage.setDown,
    jwksRequests: () => jwksCount,
    discoveryRequests: () => discoveryCount,
    close: server.close,
  };
}
