/**
 * `stepgate policy test FILE`: policy fixtures for CI. Each case is claims × method × path →
 * the expected decision (and optionally reason and route); any mismatch fails the run (exit 1).
 * A fixtures file that cannot be used — bad YAML, an unknown key, a reason that does not exist,
 * an issuer or route the config does not name — is an input error (exit 2), never a silent pass.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatKeyPath, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Reason } from '../errors.ts';
import { compileRouting } from '../policy/routing.ts';
import { decide } from './decide.ts';
import { InputError } from './input-error.ts';

/** Every audit reason; `satisfies` keeps the list in step with the `Reason` union. */
const REASONS = {
  allowed: true,
  public: true,
  no_route: true,
  bad_request: true,
  missing_token: true,
  invalid_token: true,
  token_expired: true,
  wrong_issuer: true,
  wrong_audience: true,
  insufficient_scope: true,
  policy_denied: true,
  csrf: true,
  rate_limited: true,
  rate_limit_unavailable: true,
  upstream_error: true,
  audit_unavailable: true,
  idp_unavailable: true,
  login_failed: true,
  session_store_unavailable: true,
  not_found: true,
  client_aborted: true,
  untrusted_peer: true,
  internal_error: true,
} as const satisfies Record<Reason, true>;

const fixtureFile = z.strictObject({
  config: z.string().min(1).optional(),
  cases: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        method: z.string().min(1),
        path: z.string().min(1),
        issuer: z.string().min(1).optional(),
        claims: z.record(z.string(), z.unknown()).optional(),
        expect: z.enum(['allow', 'deny']),
        reason: z.enum(Object.keys(REASONS) as [Reason, ...Reason[]]).optional(),
        route: z.string().min(1).optional(),
      }),
    )
    .min(1),
});

export type PolicyFixtures = z.output<typeof fixtureFile>;

export interface CaseResult {
  readonly name: string;
  readonly request: string;
  readonly ok: boolean;
  readonly got: string;
  readonly want: string;
}

export function runPolicyFixtures(config: Config, fixtures: PolicyFixtures): CaseResult[] {
  const routing = compileRouting(config.routes, config.targets);
  return fixtures.cases.map((c) => {
    const outcome = decide(config, routing, {
      method: c.method,
      path: c.path,
      ...(c.claims ? { claims: c.claims } : {}),
      ...(c.issuer ? { issuer: c.issuer } : {}),
    });
    // Only what the case names is compared: a case without `reason` passes on the decision alone.
    const want = [c.expect, c.reason, c.route && `route ${c.route}`].filter(Boolean).join(' / ');
    const got = [
      outcome.decision,
      c.reason !== undefined ? outcome.reason : undefined,
      c.route !== undefined ? `route ${outcome.route?.name ?? '(none)'}` : undefined,
    ]
      .filter(Boolean)
      .join(' / ');
    const detail = outcome.failed ? ` (${outcome.failed})` : '';
    return {
      name: c.name,
      request: `${c.method.toUpperCase()} ${c.path}`,
      ok: got === want,
      got: got + detail,
      want,
    };
  });
}

function fixtureError(file: string, problems: readonly { path: string; message: string }[]): InputError {
  const list = problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n');
  return new InputError(`invalid policy fixtures ${file}:\n${list}`);
}

/** Names a case uses that the config does not have; `decide` would only ever deny them. */
function unknownNames(config: Config, fixtures: PolicyFixtures): { path: string; message: string }[] {
  const issuers = new Set(config.issuers.map((i) => i.name));
  const routes = new Set(config.routes.map((r) => r.name));
  const problems: { path: string; message: string }[] = [];
  fixtures.cases.forEach((c, i) => {
    if (c.issuer !== undefined && !issuers.has(c.issuer)) {
      problems.push({ path: `cases[${i}].issuer`, message: `the config has no issuer named "${c.issuer}"` });
    }
    if (c.route !== undefined && !routes.has(c.route)) {
      problems.push({ path: `cases[${i}].route`, message: `the config has no route named "${c.route}"` });
    }
  });
  return problems;
}

/**
 * Reads the fixtures and the config they run against: `configFile` (`--config`) if given, else
 * the file's own `config:` (relative to the fixtures file), else `defaultConfigFile`.
 */
export function loadPolicyFixtures(
  file: string,
  configFile: string | undefined,
  defaultConfigFile: string,
): { config: Config; fixtures: PolicyFixtures } {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, 'utf8'), { uniqueKeys: true });
  } catch (err) {
    throw new InputError(`cannot read policy fixtures ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = fixtureFile.safeParse(document);
  if (!parsed.success) {
    throw fixtureError(
      file,
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: formatKeyPath([...issue.path, key]), message: 'unknown key' }))
          : [{ path: formatKeyPath(issue.path), message: issue.message }],
      ),
    );
  }
  const fixtures = parsed.data;
  const own = fixtures.config === undefined ? undefined : resolve(dirname(file), fixtures.config);
  const config = loadConfigFile(configFile ?? own ?? defaultConfigFile);
  const problems = unknownNames(config, fixtures);
  if (problems.length > 0) throw fixtureError(file, problems);
  return { config, fixtures };
}

/** Runs the fixtures and prints one line per case, want/got for each failure, and a summary. */
export function policyTest(
  file: string,
  configFile: string | undefined,
  defaultConfigFile: string,
  out: NodeJS.WritableStream = process.stdout,
): number {
  const { config, fixtures } = loadPolicyFixtures(file, configFile, defaultConfigFile);
  const results = runPolicyFixtures(config, fixtures);
  for (const r of results) {
    out.write(
      r.ok
        ? `ok    ${r.name}\n`
        : `FAIL  ${r.name} (${r.request})\n      want ${r.want}\n      got  ${r.got}\n`,
    );
  }
  const failed = results.filter((r) => !r.ok).length;
  out.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
