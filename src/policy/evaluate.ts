/**
 * Route policies compiled to predicates (DESIGN.md "Policy conditions"). A predicate returns
 * `undefined` when it holds, or what failed, in words a user understands: like Pomerium's
 * criteria, each condition carries its own failed reason, and the audit record repeats it.
 *
 * Deny by default: no condition, an empty condition set, a claim path through a non-object, a
 * claim of an unexpected type, or any exception while evaluating all deny.
 */
import type { ConditionSetConfig, RouteConfig } from '../config/schema.ts';
import type { Decision, Subject } from './types.ts';
import { compileGlob, type GlobMatcher } from './glob.ts';
import { describeClaimValue } from './describe.ts';

/** What failed: `scope` failures become `insufficient_scope` (RFC 6750 §3.1), others `policy_denied`. */
interface Failure {
  readonly scope: boolean;
  readonly text: string;
}

type Check = (subject: Subject) => Failure | undefined;

const PUBLIC: Decision = Object.freeze({ allow: true, reason: 'public' });
const ALLOWED: Decision = Object.freeze({ allow: true, reason: 'allowed' });

function quoteList(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function allOf(name: string, field: 'scopes' | 'roles' | 'groups', required: readonly string[]): Check {
  const scope = field === 'scopes';
  return (subject) => {
    const held = subject[field];
    // The common case (everything held) allocates nothing.
    if (required.every((r) => held.includes(r))) return undefined;
    const missing = required.filter((r) => !held.includes(r));
    return { scope, text: `${name}: missing ${quoteList(missing)}` };
  };
}

function anyScopes(required: readonly string[]): Check {
  const failure: Failure = { scope: true, text: `anyScopes: none of ${quoteList(required)}` };
  return (subject) => (required.some((r) => subject.scopes.includes(r)) ? undefined : failure);
}

/** A scalar claim as the string globs compare against; `undefined` for objects, null, missing. */
function scalarText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    default:
      return undefined;
  }
}

/** Follows a dotted claim path through own properties of plain objects only. */
function readClaim(claims: Readonly<Record<string, unknown>>, keys: readonly string[]): unknown {
  let current: unknown = claims;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function claimCheck(path: string, globs: string | readonly string[]): Check {
  const list = typeof globs === 'string' ? [globs] : globs;
  const matchers: readonly GlobMatcher[] = list.map(compileGlob);
  const keys = path.split('.');
  const name = `claims.${path}`;
  const expected = list.length === 1 ? JSON.stringify(list[0]) : `any of ${quoteList(list)}`;
  const matches = (text: string) => matchers.some((m) => m(text));
  const missing: Failure = { scope: false, text: `${name}: missing` };
  const notScalar: Failure = { scope: false, text: `${name}: is not a string, number or boolean` };
  const noElement: Failure = { scope: false, text: `${name}: no element matches ${expected}` };
  return (subject) => {
    const value = readClaim(subject.claims, keys);
    if (value === undefined || value === null) return missing;
    if (Array.isArray(value)) {
      for (const element of value) {
        const text = scalarText(element);
        if (text !== undefined && matches(text)) return undefined;
      }
      return noElement;
    }
    const text = scalarText(value);
    if (text === undefined) return notScalar;
    if (matches(text)) return undefined;
    return { scope: false, text: `${name}: ${describeClaimValue(text)} does not match ${expected}` };
  };
}

/** All conditions of one set, in a fixed order; the first that fails is reported. */
function compileConditionSet(set: ConditionSetConfig): Check | undefined {
  const checks: Check[] = [];
  if (set.scopes?.length) checks.push(allOf('scopes', 'scopes', set.scopes));
  if (set.anyScopes?.length) checks.push(anyScopes(set.anyScopes));
  if (set.roles?.length) checks.push(allOf('roles', 'roles', set.roles));
  if (set.groups?.length) checks.push(allOf('groups', 'groups', set.groups));
  for (const [path, globs] of Object.entries(set.claims ?? {})) checks.push(claimCheck(path, globs));
  if (checks.length === 0) return undefined;
  if (checks.length === 1) return checks[0];
  return (subject) => {
    for (const check of checks) {
      const failure = check(subject);
      if (failure) return failure;
    }
    return undefined;
  };
}

/** One alternative must hold. Scope-only failures everywhere keep the result a scope failure. */
function anyOfCheck(sets: readonly ConditionSetConfig[]): Check {
  // An empty alternative never holds: it must not turn into "anyone may".
  const alternatives = sets.map(
    (set, i): Check =>
      compileConditionSet(set) ?? (() => ({ scope: false, text: `anyOf[${i}]: has no condition` })),
  );
  return (subject) => {
    const failures: Failure[] = [];
    for (const alternative of alternatives) {
      const failure = alternative(subject);
      if (!failure) return undefined;
      failures.push(failure);
    }
    return {
      scope: failures.every((f) => f.scope),
      text: `anyOf: no alternative holds (${failures.map((f, i) => `${i + 1}) ${f.text}`).join('; ')})`,
    };
  };
}

function deny(failure: Failure): Decision {
  return {
    allow: false,
    reason: failure.scope ? 'insufficient_scope' : 'policy_denied',
    failed: failure.text,
  };
}

/**
 * Compiles a route's policy into a decision function. A public route allows everyone (reason
 * `public`); otherwise every direct condition and one `anyOf` alternative must hold. A route with
 * no condition never allows (the config loader refuses it too).
 */
export function compilePolicy(route: RouteConfig): (subject: Subject) => Decision {
  if (route.public) return () => PUBLIC;

  const checks: Check[] = [];
  if (route.issuers) {
    // Defense in depth: authentication already refuses a token from an issuer the route does not take.
    const issuers = route.issuers;
    checks.push((subject) =>
      issuers.includes(subject.issuer)
        ? undefined
        : {
            scope: false,
            text: `issuer: ${describeClaimValue(subject.issuer)} is not accepted by this route`,
          },
    );
  }
  const conditions = [];
  if (route.allow) {
    const { anyOf, ...direct } = route.allow;
    const directCheck = compileConditionSet(direct);
    if (directCheck) conditions.push(directCheck);
    if (anyOf?.length) conditions.push(anyOfCheck(anyOf));
  }
  if (conditions.length === 0) {
    const nothing = deny({ scope: false, text: 'route allows nobody: it has no allow condition' });
    return () => nothing;
  }
  checks.push(...conditions);

  return (subject) => {
    try {
      for (const check of checks) {
        const failure = check(subject);
        if (failure) return deny(failure);
      }
      return ALLOWED;
    } catch {
      return deny({ scope: false, text: 'policy could not be evaluated for this identity' });
    }
  };
}
