/**
 * `stepgate serve | check | explain | policy test | audit verify | demo`: parses argv and hands
 * over; nothing else lives here. Exit codes: 0 ok, 1 a check failed (deny, mismatch, broken
 * chain), 2 usage or an invalid config.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { verifyAuditFile } from './audit/verify.ts';
import { decide } from './commands/decide.ts';
import { loadPolicyFixtures, runPolicyFixtures } from './commands/policy-test.ts';
import { serve } from './commands/serve.ts';
import { loadConfigFile } from './config/load.ts';
import { ConfigError } from './errors.ts';
import { compileRouting } from './policy/routing.ts';

const USAGE = `usage:
  stepgate serve [--config FILE]
  stepgate check [--config FILE]
  stepgate explain [--config FILE] --method M --path P (--claims FILE.json | --token JWT) [--issuer NAME]
  stepgate policy test FILE [--config FILE]
  stepgate audit verify FILE
  stepgate demo

--config defaults to $STEPGATE_CONFIG, else config/gateway.yaml.`;

class UsageError extends Error {}

function configPath(value: string | undefined): string {
  return value ?? process.env['STEPGATE_CONFIG'] ?? 'config/gateway.yaml';
}

function options<const T extends Record<string, { type: 'string' }>>(args: string[], extra: T = {} as T) {
  try {
    const spec = { config: { type: 'string' as const }, ...extra };
    return parseArgs({ args, options: spec, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function explain(args: string[]): number {
  const { values } = options(args, {
    method: { type: 'string' },
    path: { type: 'string' },
    claims: { type: 'string' },
    token: { type: 'string' },
    issuer: { type: 'string' },
  });
  if (!values.method || !values.path) throw new UsageError('explain needs --method and --path');
  if (values.claims && values.token) throw new UsageError('give --claims or --token, not both');
  const config = loadConfigFile(configPath(values.config));
  let claims: Record<string, unknown> | undefined;
  try {
    if (values.claims) claims = JSON.parse(readFileSync(values.claims, 'utf8')) as Record<string, unknown>;
    if (values.token) claims = decodeJwt(values.token);
  } catch (err) {
    throw new UsageError(`cannot read the claims: ${(err as Error).message}`);
  }
  const outcome = decide(config, compileRouting(config.routes), {
    method: values.method,
    path: values.path,
    ...(claims ? { claims } : {}),
    ...(values.issuer ? { issuer: values.issuer } : {}),
  });
  const lines = [
    `request:  ${values.method.toUpperCase()} ${values.path}`,
    `path:     ${outcome.path ?? '(refused)'}`,
    `route:    ${outcome.route ? `${outcome.route.name} (routes[${outcome.route.index}], target ${outcome.route.target})` : '(none)'}`,
  ];
  if (outcome.identity) {
    const id = outcome.identity;
    lines.push(`caller:   ${id.issuer}/${id.sub}${id.clientId ? ` (client ${id.clientId})` : ''}`);
    lines.push(`scopes:   ${id.scopes.join(' ') || '-'}`);
    lines.push(`roles:    ${id.roles.join(' ') || '-'}`);
    lines.push(`groups:   ${id.groups.join(' ') || '-'}`);
  }
  lines.push(
    `decision: ${outcome.decision} (${outcome.reason})${outcome.failed ? ` — ${outcome.failed}` : ''}`,
  );
  if (values.token) lines.push('note:     the token signature was not checked; explain sends nothing');
  process.stdout.write(`${lines.join('\n')}\n`);
  return outcome.decision === 'allow' ? 0 : 1;
}

function policyTest(args: string[]): number {
  const { values, positionals } = options(args);
  const file = positionals[0];
  if (!file) throw new UsageError('policy test needs a fixtures FILE');
  const { config, fixtures } = loadPolicyFixtures(file, values.config);
  const results = runPolicyFixtures(config, fixtures);
  for (const r of results) {
    process.stdout.write(
      r.ok ? `ok    ${r.name}\n` : `FAIL  ${r.name}\n      want ${r.want}\n      got  ${r.got}\n`,
    );
  }
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

async function auditVerify(args: string[]): Promise<number> {
  const file = args[0];
  if (!file || args.length > 1) throw new UsageError('audit verify needs one FILE');
  const result = await verifyAuditFile(file);
  if (result.ok) {
    process.stdout.write(`intact: ${result.lines} records, hash chain unbroken\n`);
    return 0;
  }
  process.stdout.write(`broken at line ${result.brokenLine}: ${result.message}\n`);
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const { values } = options(rest);
        await serve(loadConfigFile(configPath(values.config)));
        return -1;
      }
      case 'check': {
        const { values } = options(rest);
        const file = configPath(values.config);
        loadConfigFile(file);
        process.stdout.write(`${file}: valid\n`);
        return 0;
      }
      case 'explain':
        return explain(rest);
      case 'policy':
        if (rest[0] !== 'test') throw new UsageError('did you mean: stepgate policy test FILE');
        return policyTest(rest.slice(1));
      case 'audit':
        if (rest[0] !== 'verify') throw new UsageError('did you mean: stepgate audit verify FILE');
        return await auditVerify(rest.slice(1));
      case 'demo': {
        const { runDemo } = await import('./dev/demo.ts');
        await runDemo();
        return -1;
      }
      case undefined:
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`stepgate: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  // -1: a server is running and owns the process from here on.
  if (code >= 0) process.exitCode = code;
}
