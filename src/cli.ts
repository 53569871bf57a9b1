/**
 * `stepgate serve | check | explain | policy test | audit verify | demo`: parses argv and hands
 * over to src/commands; nothing else lives here. Exit codes: 0 ok, 1 a check failed (deny,
 * mismatch, broken chain), 2 usage, an unusable input or an invalid config.
 */
import { parseArgs } from 'node:util';
import { auditVerify } from './commands/audit-verify.ts';
import { explain } from './commands/explain.ts';
import { InputError } from './commands/input-error.ts';
import { policyTest } from './commands/policy-test.ts';
import { loadConfigFile } from './config/load.ts';
import { ConfigError } from './errors.ts';

const USAGE = `usage:
  stepgate serve [--config FILE]
  stepgate check [--config FILE] [--online]
  stepgate explain [--config FILE] --method M --path P [--claims FILE.json | --token JWT] [--issuer NAME]
  stepgate policy test FILE [--config FILE]
  stepgate audit verify FILE
  stepgate demo

--config defaults to $STEPGATE_CONFIG, else config/gateway.yaml.
explain without --claims or --token explains an anonymous request.
check --online also asks every issuer for its discovery document and keys (and, with sso or
introspection, checks the client's endpoints and credentials); exit 2 when one fails.`;

class UsageError extends Error {}

function defaultConfigPath(): string {
  return process.env['STEPGATE_CONFIG'] || 'config/gateway.yaml';
}

type StringOptions = Record<string, { type: 'string' } | { type: 'boolean' }>;

/**
 * Parses `args` with `--config` and `extra`; refuses unknown options and more than `maxPositionals`
 * positionals, so `stepgate check my.yaml` is not quietly a check of the default config.
 */
function options<const T extends StringOptions>(args: string[], extra: T = {} as T, maxPositionals = 0) {
  const parsed = parse(args, { config: { type: 'string' as const }, ...extra });
  const unexpected = parsed.positionals[maxPositionals];
  if (unexpected !== undefined) {
    const hint =
      maxPositionals === 0 && /\.ya?ml$/i.test(unexpected) ? ` (did you mean --config ${unexpected}?)` : '';
    throw new UsageError(`unexpected argument "${unexpected}"${hint}`);
  }
  return parsed;
}

function parse<const T extends StringOptions>(args: string[], spec: T) {
  try {
    return parseArgs({ args, options: spec, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function run(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case 'serve': {
      const { values } = options(rest);
      const file = values.config ?? defaultConfigPath();
      const config = loadConfigFile(file);
      // Imported here so `check`, `explain` … do not load the server.
      const { serve } = await import('./commands/serve.ts');
      await serve(config, file);
      return -1;
    }
    case 'check': {
      const { values } = options(rest, { online: { type: 'boolean' } });
      const file = values.config ?? defaultConfigPath();
      const config = loadConfigFile(file);
      process.stdout.write(`${file}: valid\n`);
      if (!values.online) return 0;
      const { checkOnline } = await import('./commands/check-online.ts');
      return (await checkOnline(config, (line) => process.stdout.write(`${line}\n`))) ? 0 : 2;
    }
    case 'explain': {
      const { values } = options(rest, {
        method: { type: 'string' },
        path: { type: 'string' },
        claims: { type: 'string' },
        token: { type: 'string' },
        issuer: { type: 'string' },
      });
      if (!values.method || !values.path) throw new UsageError('explain needs --method and --path');
      if (values.claims !== undefined && values.token !== undefined) {
        throw new UsageError('give --claims or --token, not both');
      }
      return explain({
        configFile: values.config ?? defaultConfigPath(),
        method: values.method,
        path: values.path,
        ...(values.claims !== undefined ? { claimsFile: values.claims } : {}),
        ...(values.token !== undefined ? { token: values.token } : {}),
        ...(values.issuer !== undefined ? { issuer: values.issuer } : {}),
      });
    }
    case 'policy': {
      if (rest[0] !== 'test') throw new UsageError('did you mean: stepgate policy test FILE');
      const { values, positionals } = options(rest.slice(1), {}, 1);
      const file = positionals[0];
      if (!file) throw new UsageError('policy test needs a fixtures FILE');
      return policyTest(file, values.config, defaultConfigPath());
    }
    case 'audit': {
      if (rest[0] !== 'verify') throw new UsageError('did you mean: stepgate audit verify FILE');
      const args = rest.slice(1);
      if (args.length !== 1 || args[0]!.startsWith('-')) throw new UsageError('audit verify needs one FILE');
      return await auditVerify(args[0]!);
    }
    case 'demo': {
      options(rest);
      const { runDemo } = await import('./dev/demo.ts');
      await runDemo();
      return -1;
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Runs one command; returns its exit code, or -1 when a server now owns the process. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await run(command, rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof InputError) {
      process.stderr.write(`stepgate: ${err.message}\n`);
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
