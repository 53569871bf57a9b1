/**
 * `stepgate policy test FILE`: policy fixtures for CI. Each case is claims × method × path →
 * the expected decision (and optionally reason and route); any mismatch fails the run.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { compileRouting } from '../policy/routing.ts';
import { decide } from './decide.ts';

const fixtureFile = z.strictObject({
  config: z.string().optional(),
  cases: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        method: z.string().min(1),
        path: z.string().min(1),
        issuer: z.string().optional(),
        claims: z.record(z.string(), z.unknown()).optional(),
        expect: z.enum(['allow', 'deny']),
        reason: z.string().optional(),
        route: z.string().optional(),
      }),
    )
    .min(1),
});

export type PolicyFixtures = z.output<typeof fixtureFile>;

export interface CaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly got: string;
  readonly want: string;
}

export function runPolicyFixtures(config: Config, fixtures: PolicyFixtures): CaseResult[] {
  const routing = compileRouting(config.routes);
  return fixtures.cases.map((c) => {
    const outcome = decide(config, routing, {
      method: c.method,
      path: c.path,
      ...(c.claims ? { claims: c.claims } : {}),
      ...(c.issuer ? { issuer: c.issuer } : {}),
    });
    const want = [c.expect, c.reason, c.route && `route ${c.route}`].filter(Boolean).join(' / ');
    const got = [
      outcome.decision,
      c.reason !== undefined ? outcome.reason : undefined,
      c.route !== undefined ? `route ${outcome.route?.name ?? '(none)'}` : undefined,
    ]
      .filter(Boolean)
      .join(' / ');
    const detail = outcome.failed ? ` (${outcome.failed})` : '';
    return { name: c.name, ok: got === want, got: got + detail, want };
  });
}

export function loadPolicyFixtures(
  file: string,
  configFile: string | undefined,
): { config: Config; fixtures: PolicyFixtures } {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read fixtures ${file}: ${(err as Error).message}` }]);
  }
  const parsed = fixtureFile.safeParse(document);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      })),
    );
  }
  const configPath =
    configFile ?? (parsed.data.config ? resolve(dirname(file), parsed.data.config) : undefined);
  if (!configPath) {
    throw new ConfigError([
      { path: 'config', message: 'name the config in the fixtures file or with --config' },
    ]);
  }
  return { config: loadConfigFile(configPath), fixtures: parsed.data };
}
