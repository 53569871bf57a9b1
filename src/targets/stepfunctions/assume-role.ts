/**
 * `credentials.assumeRoleArn`: Step Functions is called under STS credentials made for the
 * caller, with `SourceIdentity` and session tags taken from the verified claims, so CloudTrail
 * names the real caller and IAM conditions (`aws:SourceIdentity`, `aws:PrincipalTag/…`) can judge
 * them. Claim values are fitted to STS's alphabets and lengths; a value that had to change gets a
 * hash of the original appended, and a value that looks fitted is fitted again, so two callers
 * never end up with the same identity (see `fit`).
 * Sessions are cached per caller and parameters until shortly before they expire.
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
import { createHash } from 'node:crypto';
import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  type AssumeRoleCommandOutput,
  STSClient,
  type STSClientConfig,
} from '@aws-sdk/client-sts';
import { GatewayError } from '../../errors.ts';
import type { Identity } from '../../identity/types.ts';
import { canonicalJson } from '../../canonical-json.ts';
import { mapAwsError } from './aws-errors.ts';
import { base32 } from '../execution/naming.ts';

export interface AssumeRoleConfig {
  readonly assumeRoleArn: string;
  /** The claim that becomes SourceIdentity; default `sub`. */
  readonly sourceIdentity?: string;
  /** Claims passed as session tags (key: the claim name). */
  readonly sessionTags?: readonly string[];
  readonly durationSeconds?: number;
  readonly stsEndpoint?: string;
}

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** 16 base32 characters: 80 bits, beyond a search for a second claim value with the same suffix. */
const SUFFIX_CHARS = 16;
/** What a fitted value ends with; a verbatim value that ends like this is fitted too. */
const FITTED_SUFFIX = new RegExp(`\\.[a-z2-7]{${SUFFIX_CHARS}}$`, 'i');

function hashSuffix(original: string): string {
  return base32(createHash('sha256').update(original).digest(), SUFFIX_CHARS);
}

/**
 * Fits `value` into `allowed` characters and `min`..`max` length: kept as it is when it fits,
 * otherwise each other character becomes `_` and `.<hash of the original>` is appended.
 *
 * A fitted value never equals a verbatim one: a value that fits but already ends like a fitted
 * one (`o_brien@corp.com.<16 base32>`, perhaps another caller's fitted value sent as a claim) is
 * fitted as well, so it gets a suffix of its own. Two fitted values are equal only when their
 * originals' hashes agree in 80 bits. The suffix test ignores case, as IAM's
 * `StringEqualsIgnoreCase` would.
 */
function fit(value: string, allowed: RegExp, min: number, max: number, forbidden?: RegExp): string {
  const chars = [...value];
  const fits =
    chars.length >= min &&
    chars.length <= max &&
    chars.every((c) => allowed.test(c)) &&
    !forbidden?.test(value) &&
    !FITTED_SUFFIX.test(value);
  if (fits) return value;
  const suffix = `.${hashSuffix(value)}`;
  const cleaned = chars.map((c) => (allowed.test(c) ? c : '_')).join('');
  return [...cleaned].slice(0, max - suffix.length).join('') + suffix;
}

const NAME_CHAR = /^[\w+=,.@-]$/;
const TAG_CHAR = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]$/u;

/** SourceIdentity / RoleSessionName: `[\w+=,.@-]`, 2–64 characters, not starting with `aws:`. */
export function stsName(value: string): string {
  return fit(value, NAME_CHAR, 2, 64, /^aws:/i);
}

/** A session tag key: 1–128 characters of STS's tag alphabet. */
export function sessionTagKey(value: string): string {
  return fit(value, TAG_CHAR, 1, 128);
}

/** A session tag value: 0–256 characters of STS's tag alphabet. */
export function sessionTagValue(value: string): string {
  return fit(value, TAG_CHAR, 0, 256);
}

function lookupClaim(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part))
      return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** The AssumeRole parameters for `identity`. A missing SourceIdentity claim is a 403: no anonymous sessions. */
export function assumeRoleInput(config: AssumeRoleConfig, identity: Identity): AssumeRoleCommandInput {
  const claim = config.sourceIdentity ?? 'sub';
  const source = claim === 'sub' ? identity.sub : scalar(lookupClaim(identity.claims, claim));
  if (source === undefined || source === '') {
    throw new GatewayError(
      'SG_ERR_POLICY_DENIED',
      `the token has no "${claim}" claim, which this target needs`,
    );
  }
  const tags: { Key: string; Value: string }[] = [];
  const seen = new Set<string>();
  for (const name of config.sessionTags ?? []) {
    const value = scalar(lookupClaim(identity.claims, name));
    const key = sessionTagKey(name);
    // Absent claims are left out: a condition on the tag then fails, as it should.
    if (value === undefined || seen.has(key.toLowerCase())) continue;
    seen.add(key.toLowerCase());
    tags.push({ Key: key, Value: sessionTagValue(value) });
  }
  return {
    RoleArn: config.assumeRoleArn,
    RoleSessionName: stsName(`${identity.issuer}@${identity.sub}`),
    SourceIdentity: stsName(source),
    DurationSeconds: config.durationSeconds ?? 900,
    ...(tags.length > 0 ? { Tags: tags } : {}),
  };
}

export interface RoleSessions<T> {
  /** The session (and what was made from it) for `identity`, fresh for at least a minute more. */
  get(identity: Identity): Promise<T>;
  readonly size: number;
  close(): void;
}

/** Sessions are renewed this long before they expire (or at a quarter of their life, if shorter). */
const RENEW_BEFORE_MS = 5 * 60 * 1000;
const MAX_SESSIONS = 10_000;

export interface RoleSessionOptions<T> {
  readonly region: string;
  /** Made once per session: e.g. an SFN client using its credentials. */
  readonly make: (credentials: AwsCredentials) => T;
  readonly timeoutMs: number;
  readonly stsConfig?: Partial<STSClientConfig>;
  readonly now?: () => number;
}

export function createRoleSessions<T>(
  config: AssumeRoleConfig,
  options: RoleSessionOptions<T>,
): RoleSessions<T> {
  const now = options.now ?? Date.now;
  const sts = new STSClient({
    region: options.region,
    maxAttempts: 3,
    ...(config.stsEndpoint ? { endpoint: config.stsEndpoint } : {}),
    requestHandler: {
      requestTimeout: options.timeoutMs,
      connectionTimeout: options.timeoutMs,
      throwOnRequestTimeout: true,
    },
    ...options.stsConfig,
  });
  const cache = new Map<string, { value: T; renewAt: number }>();
  const inFlight = new Map<string, Promise<T>>();

  async function assume(input: AssumeRoleCommandInput): Promise<{ value: T; renewAt: number }> {
    let out: AssumeRoleCommandOutput;
    try {
      out = await sts.send(new AssumeRoleCommand(input));
    } catch (err) {
      throw mapAwsError(err, 'STS');
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new GatewayError('SG_ERR_AWS_UNAVAILABLE', 'STS returned no credentials');
    }
    const credentials = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
    const life = c.Expiration.getTime() - now();
    return {
      value: options.make(credentials),
      renewAt: c.Expiration.getTime() - Math.min(RENEW_BEFORE_MS, life / 4),
    };
  }

  return {
    async get(identity) {
      const input = assumeRoleInput(config, identity);
      const key = createHash('sha256').update(canonicalJson(input)).digest('base64url');
      const hit = cache.get(key);
      if (hit && hit.renewAt > now()) return hit.value;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const promise = assume(input)
        .then((entry) => {
          cache.delete(key);
          if (cache.size >= MAX_SESSIONS) cache.delete(cache.keys().next().value!);
          cache.set(key, entry);
          return entry.value;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return promise;
    },
    get size() {
      return cache.size;
    },
    close() {
      cache.clear();
      sts.destroy();
    },
  };
}
