/**
 * `stepgate check --online`: after the config is valid, asks every issuer what the gateway will
 * ask it at run time, through the same code (discovery, JWKS, with `caFile`), and reports per
 * issuer what worked and what failed and why (DNS, refused, TLS, HTTP status, not JSON, issuer
 * mismatch). With `sso`, the login client's endpoints and credentials; with `introspection`, the
 * introspection endpoint and its credentials (an RFC 7662 call for a token that does not exist).
 * Exit 0 when everything worked, 2 when anything failed.
 */
import type { Config, IssuerConfig } from '../config/schema.ts';
import { createIssuerKeys } from '../identity/issuer-keys.ts';
import {
  createProviderFetch,
  discoveryUrl,
  fetchDiscovery,
  ProviderError,
  type ProviderFetch,
  toProviderError,
} from '../identity/provider-fetch.ts';

const TIMEOUT_MS = 5000;

interface Check {
  readonly ok: boolean;
  readonly what: string;
  readonly detail: string;
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** POSTs a form with client authentication; the OAuth error (RFC 6749 §5.2) or the status. */
async function postForm(
  fetchFn: ProviderFetch,
  url: string,
  client: { id: string; secret: string },
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: {
        authorization: basic(client.id, client.secret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams(form),
    });
  } catch (err) {
    throw toProviderError(err, url);
  }
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // Reported by status below.
  }
  return { status: response.status, body };
}

function endpoint(doc: Record<string, unknown>, name: string): string {
  const value = doc[name];
  if (typeof value !== 'string' || !URL.canParse(value)) {
    throw new ProviderError('bad_document', '', `the discovery document has no ${name}`);
  }
  return value;
}

/** The SSO client: endpoints advertised, and its id and secret accepted by the token endpoint. */
async function checkSsoClient(fetchFn: ProviderFetch, doc: Record<string, unknown>, config: Config): Promise<Check> {
  const sso = config.sso!;
  const what = `sso client "${sso.clientId}"`;
  endpoint(doc, 'authorization_endpoint');
  const token = endpoint(doc, 'token_endpoint');
  if (!sso.clientSecret) return { ok: true, what, detail: `authorization and token endpoints at ${token}` };
  // A code that does not exist: the IdP authenticates the client first (RFC 6749 §3.2.1), so
  // `invalid_grant` means the id and secret were accepted; a refused client is `invalid_client`
  // (Keycloak says `unauthorized_client`).
  const { status, body } = await postForm(fetchFn, token, { id: sso.clientId, secret: sso.clientSecret }, {
    grant_type: 'authorization_code',
    code: 'stepgate-check-online-probe',
    redirect_uri: `${config.server.publicUrl ?? ''}/.stepgate/callback`,
  });
  if (body['error'] !== 'invalid_grant') {
    const why = typeof body['error'] === 'string' ? `${body['error']}: ${String(body['error_description'] ?? '')}` : `HTTP ${status}`;
    return { ok: false, what, detail: `${token} refused the client id or secret (${why.trim()})` };
  }
  return { ok: true, what, detail: `${token} accepts its credentials` };
}

/** RFC 7662 for a token that does not exist: 200 `{"active":false}` when all is well. */
async function checkIntrospection(
  fetchFn: ProviderFetch,
  doc: Record<string, unknown> | undefined,
  issuer: IssuerConfig,
): Promise<Check> {
  const { clientId, clientSecret } = issuer.introspection!;
  const url = issuer.introspection!.endpoint ?? endpoint(doc ?? {}, 'introspection_endpoint');
  const what = `introspection as "${clientId}"`;
  const { status, body } = await postForm(fetchFn, url, { id: clientId, secret: clientSecret }, {
    token: 'stepgate-check-online-probe',
  });
  if (status === 200 && body['active'] === false) return { ok: true, what, detail: `${url} answers` };
  const why = typeof body['error'] === 'string' ? ` (${body['error']})` : '';
  return { ok: false, what, detail: `${url} answered HTTP ${status}${why}, not {"active":false}` };
}

async function attempt(what: string, run: () => Promise<Check>): Promise<Check> {
  try {
    return await run();
  } catch (err) {
    const failure = err instanceof ProviderError ? err : toProviderError(err, '');
    return { ok: false, what, detail: `${failure.message} [${failure.kind}]` };
  }
}

async function checkIssuer(issuer: IssuerConfig, config: Config): Promise<Check[]> {
  const fetchFn = createProviderFetch(issuer.caFile);
  const checks: Check[] = [];
  const usesSso = config.sso?.issuer === issuer.name;
  let doc: Record<string, unknown> | undefined;
  if (!issuer.jwksUri || usesSso || (issuer.introspection && !issuer.introspection.endpoint)) {
    checks.push(
      await attempt('discovery', async () => {
        doc = await fetchDiscovery(fetchFn, issuer.issuer, AbortSignal.timeout(TIMEOUT_MS));
        return { ok: true, what: 'discovery', detail: discoveryUrl(issuer.issuer) };
      }),
    );
  }
  const keys = createIssuerKeys(issuer, { fetchTimeoutMs: TIMEOUT_MS });
  await keys.warm();
  const error = keys.lastError();
  keys.close();
  checks.push(
    keys.isReady()
      ? { ok: true, what: 'signing keys', detail: issuer.jwksUri ?? String(doc?.['jwks_uri'] ?? '') }
      : { ok: false, what: 'signing keys', detail: error ? `${error.message} [${error.kind}]` : 'not fetched' },
  );
  if (usesSso && doc) checks.push(await attempt('sso client', () => checkSsoClient(fetchFn, doc!, config)));
  if (issuer.introspection && (doc || issuer.introspection.endpoint)) {
    checks.push(await attempt('introspection', () => checkIntrospection(fetchFn, doc, issuer)));
  }
  return checks;
}

/** Checks every issuer at once; writes a report; true when nothing failed. */
export async function checkOnline(config: Config, write: (line: string) => void): Promise<boolean> {
  const results = await Promise.all(config.issuers.map((issuer) => checkIssuer(issuer, config)));
  let ok = true;
  config.issuers.forEach((issuer, i) => {
    write(`issuer ${issuer.name} (${issuer.issuer})`);
    for (const check of results[i]!) {
      ok &&= check.ok;
      write(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.what}: ${check.detail}`);
    }
  });
  if (config.issuers.length === 0) write('no issuers configured');
  return ok;
}
