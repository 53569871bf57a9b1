/**
 * Everything the gateway fetches from an identity provider (discovery, JWKS) goes through here,
 * so that every failure says which URL failed and why, in the words an operator needs: DNS,
 * connection refused, time-out, TLS (with the certificate error), an HTTP status, a body that is
 * not JSON, or a discovery document naming another issuer (OIDC Discovery 1.0 §4.3, with the
 * trailing-slash case named). An issuer with `caFile` trusts that CA (a private PKI) besides the
 * system's.
 */
import { Agent, fetch as undiciFetch } from 'undici';
import { readCaFile } from '../config/tls-files.ts';

/** What kind of failure: stable words for logs, `/readyz` and `stepgate check --online`. */
export type ProviderFailureKind =
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'tls'
  | 'reset'
  | 'network'
  | 'http_status'
  | 'bad_json'
  | 'too_large'
  | 'issuer_mismatch'
  | 'bad_document'
  | 'no_keys';

/** A failed fetch from an identity provider: which URL, what kind of failure, and why. */
export class ProviderError extends Error {
  readonly kind: ProviderFailureKind;
  readonly url: string;

  constructor(kind: ProviderFailureKind, url: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProviderError';
    this.kind = kind;
    this.url = url;
  }
}

/** The fetch an issuer's requests use (its own CA when `caFile` is set). */
export type ProviderFetch = (url: string, init?: RequestInit) => Promise<Response>;

/** Node's TLS verification error codes (from OpenSSL) and Node's own. */
const TLS_CODE = /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME_MISMATCH|ERR_OSSL)/;
const CA_HINT = 'set issuers[].caFile to the CA that signed it';

/** A fetch for an issuer; with `caFile`, connections trust that CA's PEM bundle too. */
export function createProviderFetch(caFile?: string): ProviderFetch {
  if (!caFile) return (url, init) => fetch(url, init);
  const dispatcher = new Agent({ connect: { ca: readCaFile(caFile) } });
  return (url, init) =>
    undiciFetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET' && code !== 'UND_ERR') return code;
  }
  return undefined;
}

function innermostMessage(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err; e instanceof Error; e = e.cause) message = e.message;
  return message;
}

/** Sorts a failed fetch into the kind an operator acts on. */
export function toProviderError(err: unknown, url: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const host = URL.canParse(url) ? new URL(url).host : url;
  const code = errorCode(err);
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return new ProviderError('timeout', url, `${host} did not answer in time`, { cause: err });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new ProviderError('dns', url, `cannot resolve host "${new URL(url).hostname}" (DNS ${code})`, {
      cause: err,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new ProviderError('refused', url, `connection refused by ${host}: nothing listens there`, {
      cause: err,
    });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return new ProviderError('reset', url, `${host} closed the connection`, { cause: err });
  }
  if (code !== undefined && TLS_CODE.test(code)) {
    const hint = /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY/.test(code) ? `; ${CA_HINT}` : '';
    return new ProviderError('tls', url, `TLS with ${host} failed: ${innermostMessage(err)} (${code})${hint}`, {
      cause: err,
    });
  }
  return new ProviderError('network', url, `${host}: ${innermostMessage(err)}${code ? ` (${code})` : ''}`, {
    cause: err,
  });
}

const MAX_DOCUMENT_BYTES = 512 * 1024;

/** GETs a JSON document (discovery, JWKS); every failure is a `ProviderError` naming `url`. */
export async function fetchProviderJson(
  fetchFn: ProviderFetch,
  url: string,
  signal: AbortSignal,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchFn(url, { signal, redirect: 'error', headers: { accept: 'application/json' } });
  } catch (err) {
    throw toProviderError(err, url);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new ProviderError('http_status', url, `GET ${url} answered HTTP ${response.status}`);
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_DOCUMENT_BYTES) {
    await response.body?.cancel();
    throw new ProviderError('too_large', url, `GET ${url}: document larger than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    throw toProviderError(err, url);
  }
  if (text.length > MAX_DOCUMENT_BYTES) {
    throw new ProviderError('too_large', url, `GET ${url}: document larger than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const type = response.headers.get('content-type') ?? 'no content type';
    throw new ProviderError('bad_json', url, `GET ${url} answered ${type} that is not JSON`, { cause: err });
  }
}

/**
 * Why a discovery document's `issuer` is not the configured one (OIDC Discovery 1.0 §4.3: they
 * must be identical), or `undefined` when they are.
 */
export function issuerMismatch(configured: string, advertised: unknown): string | undefined {
  if (advertised === configured) return undefined;
  if (typeof advertised !== 'string') return 'the discovery document has no "issuer"';
  if (advertised.replace(/\/+$/, '') === configured.replace(/\/+$/, '')) {
    return (
      `the discovery document names issuer "${advertised}" but the config says "${configured}": ` +
      'they differ only by a trailing slash, and issuers are compared exactly ' +
      `(set issuers[].issuer to "${advertised}")`
    );
  }
  return `the discovery document names issuer "${advertised}", not the configured "${configured}"`;
}

/** The discovery URL of an issuer (OIDC Discovery 1.0 §4). */
export const discoveryUrl = (issuer: string): string =>
  `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;

/** Fetches and checks an issuer's discovery document: an object naming exactly this issuer. */
export async function fetchDiscovery(
  fetchFn: ProviderFetch,
  issuer: string,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const url = discoveryUrl(issuer);
  const doc = await fetchProviderJson(fetchFn, url, signal);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ProviderError('bad_document', url, 'the discovery document is not a JSON object');
  }
  const mismatch = issuerMismatch(issuer, (doc as Record<string, unknown>)['issuer']);
  if (mismatch) throw new ProviderError('issuer_mismatch', url, mismatch);
  return doc as Record<string, unknown>;
}
