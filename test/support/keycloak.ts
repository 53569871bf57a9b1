/**
 * Talking to the real Keycloak of a test run (scripts/services/keycloak.ts): client-credentials
 * tokens from the realm file's clients, and the admin REST API for tests that change realm state.
 * Such tests make their own clients, users, keys or realms (named with a random suffix) so that
 * tests never see each other's changes.
 *
 *   const kc = keycloakUrl(t); if (!kc) return;
 *   const admin = new KeycloakAdmin(kc);
 *   const client = await admin.createSsoClient({ origin });   // a copy of the realm's `stepgate`
 *   const token = await clientCredentials(kc, 'reader');
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeycloakService } from './services.ts';

export const REALM = 'platform';
const REALM_FILE = join(import.meta.dirname, '..', '..', 'deploy', 'keycloak', 'stepgate-realm.json');

/** The realm as the deploy file defines it (clients, users, roles, groups, scopes). */
export interface RealmFile {
  readonly realm: string;
  readonly clients: readonly ({ clientId: string; secret?: string } & Record<string, unknown>)[];
  readonly users: readonly ({ username: string; credentials?: { value: string }[] } & Record<string, unknown>)[];
  readonly [key: string]: unknown;
}

export const realmFile = (): RealmFile => JSON.parse(readFileSync(REALM_FILE, 'utf8')) as RealmFile;

export const issuerOf = (kc: Pick<KeycloakService, 'url'>, realm = REALM): string => `${kc.url}/realms/${realm}`;

/** A secret of a client of the realm file (`ci-bot`, `reader`, `stepgate`). */
export function clientSecret(clientId: string): string {
  const client = realmFile().clients.find((c) => c.clientId === clientId);
  if (!client?.secret) throw new Error(`no client ${clientId} with a secret in the realm file`);
  return client.secret;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly expires_in: number;
  readonly refresh_token?: string;
  readonly scope?: string;
}

/** A client-credentials token (RFC 6749 §4.4) from Keycloak's token endpoint. */
export async function clientCredentials(
  issuer: string,
  clientId: string,
  options: { secret?: string; scope?: string } = {},
): Promise<TokenResponse> {
  const secret = options.secret ?? clientSecret(clientId);
  const response = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(options.scope ? { scope: options.scope } : {}) }),
  });
  const body = (await response.json()) as TokenResponse & { error?: string; error_description?: string };
  if (!response.ok) throw new Error(`token request failed: ${response.status} ${body.error} ${body.error_description}`);
  return body;
}

/** The claims of a JWT, unverified (for assertions about what Keycloak issued). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

export const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/** The admin REST API as the master realm's admin (admin-cli, password grant). */
export class KeycloakAdmin {
  readonly #kc: KeycloakService;
  #token: { value: string; until: number } | undefined;

  constructor(kc: KeycloakService) {
    this.#kc = kc;
  }

  async #accessToken(): Promise<string> {
    if (this.#token && this.#token.until > Date.now()) return this.#token.value;
    const response = await fetch(`${this.#kc.url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: this.#kc.adminUser,
        password: this.#kc.adminPassword,
      }),
    });
    const body = (await response.json()) as { access_token: string; expires_in: number };
    if (!response.ok) throw new Error(`admin login failed: ${response.status}`);
    this.#token = { value: body.access_token, until: Date.now() + (body.expires_in - 10) * 1000 };
    return body.access_token;
  }

  /** One admin API call under `/admin/realms`; throws on a status >= 300. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ body: T; location?: string }> {
    const response = await fetch(`${this.#kc.url}/admin/realms${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.#accessToken()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
    const location = response.headers.get('location') ?? undefined;
    return { body: (text ? JSON.parse(text) : undefined) as T, ...(location ? { location } : {}) };
  }

  /** A new realm from the realm file under another name (for tests that rotate its keys). */
  async createRealmCopy(name: string, changes: Record<string, unknown> = {}): Promise<void> {
    await this.call('POST', '', { ...realmFile(), realm: name, ...changes });
  }

  /**
   * A browser-login client for a gateway at `origin`: the realm file's `stepgate` client (same
   * scopes, PKCE, back-channel logout settings) under a new id, with this origin's URIs.
   */
  async createSsoClient(options: {
    origin: string;
    /** Where Keycloak POSTs logout tokens; default `${origin}/.stepgate/backchannel-logout`. */
    backchannelOrigin?: string;
    realm?: string;
    attributes?: Record<string, string>;
  }): Promise<{ clientId: string; clientSecret: string }> {
    const realm = options.realm ?? REALM;
    const template = realmFile().clients.find((c) => c.clientId === 'stepgate')!;
    const clientId = uniqueName('stepgate');
    const secret = randomBytes(18).toString('base64url');
    const attributes = template['attributes'] as Record<string, string>;
    await this.call('POST', `/${realm}/clients`, {
      ...template,
      clientId,
      secret,
      rootUrl: options.origin,
      redirectUris: [`${options.origin}/.stepgate/callback`],
      attributes: {
        ...attributes,
        'post.logout.redirect.uris': `${options.origin}/.stepgate/logged-out`,
        'backchannel.logout.url': `${options.backchannelOrigin ?? options.origin}/.stepgate/backchannel-logout`,
        ...options.attributes,
      },
    });
    return { clientId, clientSecret: secret };
  }

  /** A user like the realm file's `alice` (roles, groups), under a new name; returns its id. */
  async createUser(
    options: { like?: string; realm?: string } = {},
  ): Promise<{ id: string; username: string; password: string }> {
    const realm = options.realm ?? REALM;
    const template = realmFile().users.find((u) => u.username === (options.like ?? 'alice'))!;
    const username = uniqueName(template.username);
    const password = randomBytes(12).toString('base64url');
    const { location } = await this.call('POST', `/${realm}/users`, {
      ...template,
      username,
      email: `${username}@example.com`,
      credentials: [{ type: 'password', value: password, temporary: false }],
    });
    const id = location?.split('/').pop() ?? '';
    // The users endpoint ignores realmRoles/clientRoles of a new user: grant them here.
    const realmRoles = (template['realmRoles'] as string[] | undefined) ?? [];
    if (realmRoles.length > 0) {
      const roles = await Promise.all(
        realmRoles.map(async (name) => (await this.call('GET', `/${realm}/roles/${encodeURIComponent(name)}`)).body),
      );
      await this.call('POST', `/${realm}/users/${id}/role-mappings/realm`, roles);
    }
    for (const [client, names] of Object.entries((template['clientRoles'] as Record<string, string[]>) ?? {})) {
      const [found] = (await this.call<{ id: string }[]>('GET', `/${realm}/clients?clientId=${client}`)).body;
      const roles = await Promise.all(
        names.map(async (name) => (await this.call('GET', `/${realm}/clients/${found!.id}/roles/${name}`)).body),
      );
      await this.call('POST', `/${realm}/users/${id}/role-mappings/clients/${found!.id}`, roles);
    }
    return { id, username, password };
  }

  /** The user's sessions in Keycloak. */
  async sessions(userId: string, realm = REALM): Promise<{ id: string; clients: Record<string, string> }[]> {
    return (await this.call<{ id: string; clients: Record<string, string> }[]>('GET', `/${realm}/users/${userId}/sessions`))
      .body;
  }

  /** Ends one Keycloak session; Keycloak sends back-channel logout to its clients. */
  async endSession(sessionId: string, realm = REALM): Promise<void> {
    await this.call('DELETE', `/${realm}/sessions/${sessionId}`);
  }
}
