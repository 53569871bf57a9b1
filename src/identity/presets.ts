/**
 * Claim presets: how each provider spells scopes, roles, groups and the client. Pure functions
 * over a verified payload; junk in a claim (a number where a list is expected, non-string items)
 * is ignored, never thrown on, since the payload comes from outside.
 */
import type { JWTPayload } from 'jose';
import type { IssuerConfig } from '../config/schema.ts';
import type { AuthMethod, Identity } from './types.ts';

type Preset = IssuerConfig['preset'];

interface PresetClaims {
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly groups: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The string items of an array claim; anything else yields nothing. */
export function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const out: string[] = [];
  for (const item of value) if (typeof item === 'string' && item !== '') out.push(item);
  return out;
}

/** An RFC 6749 §3.3 scope string: space-delimited, case-sensitive. */
export function scopeList(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return value.split(' ').filter((s) => s !== '');
}

function unique(items: string[]): readonly string[] {
  return items.length === 0 ? NONE : [...new Set(items)];
}

/** Keycloak: `realm_access.roles` as is, `resource_access.<client>.roles` as `client:role`. */
function keycloakRoles(payload: JWTPayload): string[] {
  const roles: string[] = [];
  const realm = payload['realm_access'];
  if (isRecord(realm)) roles.push(...stringList(realm['roles']));
  const resources = payload['resource_access'];
  if (isRecord(resources)) {
    for (const [client, access] of Object.entries(resources)) {
      if (!isRecord(access)) continue;
      for (const role of stringList(access['roles'])) roles.push(`${client}:${role}`);
    }
  }
  return roles;
}

function readPreset(preset: Preset, payload: JWTPayload): PresetClaims {
  switch (preset) {
    case 'keycloak':
      return {
        clientId: nonEmptyString(payload['azp']) ?? nonEmptyString(payload['client_id']),
        scopes: unique(scopeList(payload['scope'])),
        roles: unique(keycloakRoles(payload)),
        groups: unique(stringList(payload['groups'])),
      };
    case 'okta':
      return {
        clientId: nonEmptyString(payload['cid']),
        scopes: unique(stringList(payload['scp'])),
        roles: NONE,
        groups: unique(stringList(payload['groups'])),
      };
    case 'github-actions':
      // GitHub's OIDC tokens name no OAuth client. The closest thing to "which client called"
      // is the workflow file that runs the job (`job_workflow_ref`, which for a reusable
      // workflow names the called one), so that is what audit and X-Stepgate-Client carry.
      // `repository`, `ref`, `environment`, … stay plain claims for `allow.claims`.
      return {
        clientId: nonEmptyString(payload['job_workflow_ref']),
        scopes: NONE,
        roles: NONE,
        groups: NONE,
      };
    case 'generic': {
      const scope = payload['scope'];
      return {
        clientId:
          nonEmptyString(payload['azp']) ??
          nonEmptyString(payload['client_id']) ??
          nonEmptyString(payload['cid']),
        scopes: unique(typeof scope === 'string' ? scopeList(scope) : stringList(payload['scp'])),
        roles: unique(stringList(payload['roles'])),
        groups: unique(stringList(payload['groups'])),
      };
    }
    default: {
      const unknown: never = preset;
      throw new TypeError(`unknown issuer preset ${String(unknown)}`);
    }
  }
}

/**
 * Builds the one `Identity` of a request from a verified payload. The caller has already checked
 * that `iss` and `sub` are strings and `exp` a number (verify-bearer does); here a missing one
 * becomes `''` (or `0`) rather than an exception, for `stepgate explain` with hand-written claims.
 */
export function identityFromClaims(
  issuer: IssuerConfig,
  payload: JWTPayload,
  authMethod: AuthMethod,
  tokenId: string,
): Identity {
  const { clientId, scopes, roles, groups } = readPreset(issuer.preset, payload);
  return {
    issuer: issuer.name,
    iss: typeof payload.iss === 'string' ? payload.iss : '',
    sub: typeof payload.sub === 'string' ? payload.sub : '',
    clientId,
    scopes,
    roles,
    groups,
    claims: Object.freeze(payload),
    authMethod,
    tokenId,
    expiresAt: typeof payload.exp === 'number' ? payload.exp : 0,
  };
}
