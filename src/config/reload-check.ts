/**
 * What a config reload may not change: the sections wired once at start. Pure, so the rule is
 * tested as a table and `stepgate serve` can name every key that needs a restart.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ConfigProblem } from '../errors.ts';
import type { Config } from './schema.ts';

/** Sections that are wired once at start (listeners, audit sinks, SSO, Redis, logger). */
const FIXED_SECTIONS = ['server', 'admin', 'decision', 'audit', 'sso', 'redis', 'logging'] as const;

/** The keys a reload may not change, each named (`server.port`); `audit.claims` may change. */
export function restartOnlyChanges(current: Config, next: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const message = 'changes need a restart';
  for (const section of FIXED_SECTIONS) {
    const before = current[section] as Record<string, unknown> | undefined;
    const after = next[section] as Record<string, unknown> | undefined;
    if (isDeepStrictEqual(before, after)) continue;
    if (!before || !after) {
      problems.push({ path: section, message });
      continue;
    }
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (section === 'audit' && key === 'claims') continue;
      if (!isDeepStrictEqual(before[key], after[key])) problems.push({ path: `${section}.${key}`, message });
    }
  }
  // Browser SSO is built once around its issuer's entry.
  const ssoIssuer = current.sso?.issuer;
  if (ssoIssuer !== undefined) {
    const find = (config: Config) => config.issuers.find((issuer) => issuer.name === ssoIssuer);
    if (!isDeepStrictEqual(find(current), find(next)))
      problems.push({ path: `issuers[${JSON.stringify(ssoIssuer)}]`, message: `used by sso: ${message}` });
  }
  return problems;
}
