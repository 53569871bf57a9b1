/**
 * `stepgate serve | check | explain | policy test | audit verify | export | health | demo | dev`:
 * parses argv and hands over to src/commands; nothing else lives here. Exit codes: 0 ok, 1 a check
 * failed (deny, mismatch, broken chain, not ready), 2 usage, an unusable input or an invalid config.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { auditVerify } from './commands/audit-verify.ts';
import { adminReadyUrl, health, readyUrl } from './commands/health.ts';
import { COMMAND_HELP, USAGE } from './commands/help.ts';
import { explain } from './commands/explain.ts';
import { EXPORT_FORMATS, type ExportFormat, exportPolicies } from './commands/export.ts';
import { InputError } from './commands/input-error.ts';
import { policyTest } from './commands/policy-test.ts';
import { loadConfigFile } from './config/load.ts';
import { configWarnings } from './config/warnings.ts';
import { ConfigError } from './errors.ts';

/** `stepgate 0.1.0`, from the package's own package.json. */
function version(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return `stepgate ${pkg.version}`;
}

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

/** `stepgate dev` servers and their default ports (as docker-compose.yml runs them). */
const DEV_PORTS = { upstream: 3000, stepfunctions: 8083 } as const;

function port(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new UsageError(`--port must be 0-65535, got ${JSON.stringify(value)}`);
  return n;
}

const wantsHelp = (args: readonly string[]) => args.includes('--help') || args.includes('-h');

async function run(command: string | undefined, rest: string[]): Promise<number> {
  const help = command !== undefined && Object.hasOwn(COMMAND_HELP, command) ? COMMAND_HELP[command] : undefined;
  if (help !== undefined && wantsHelp(rest)) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
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
      for (const warning of configWarnings(config)) process.stderr.write(`warning: ${warning.path}: ${warning.message}\n`);
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
      const { values, positionals } = parse(rest.slice(1), { key: { type: 'string' } });
      if (positionals.length !== 1) throw new UsageError('audit verify needs one FILE');
      return await auditVerify(positionals[0]!, values.key);
    }
    case 'export': {
      const [format, ...args] = rest;
      if (!EXPORT_FORMATS.includes(format as ExportFormat)) throw new UsageError('export needs istio or envoy-gateway');
      const strict = args.includes('--strict');
      const { values } = options(args.filter((arg) => arg !== '--strict'));
      return exportPolicies(format as ExportFormat, values.config ?? defaultConfigPath(), strict);
    }
    case 'health': {
      const { values } = options(rest, { url: { type: 'string' } });
      const url =
        values.url !== undefined
          ? readyUrl(values.url)
          : adminReadyUrl(loadConfigFile(values.config ?? defaultConfigPath()).admin);
      return health(url);
    }
    case 'demo': {
      options(rest);
      const { runDemo } = await import('./dev/demo.ts');
      await runDemo();
      return -1;
    }
    case 'dev': {
      const server = rest[0];
      if (server !== 'upstream' && server !== 'stepfunctions') {
        throw new UsageError('did you mean: stepgate dev upstream|stepfunctions');
      }
      const spec = {
        host: { type: 'string' },
        port: { type: 'string' },
        region: { type: 'string' },
        account: { type: 'string' },
      } as const;
      const { values, positionals } = parse(rest.slice(1), spec);
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      // Imported here so other commands do not load the dev servers.
      const { runDevServer } = await import('./commands/dev.ts');
      await runDevServer(server, {
        host: values.host ?? '127.0.0.1',
        port: port(values.port, DEV_PORTS[server]),
        region: values.region ?? 'us-east-1',
        accountId: values.account ?? '123456789012',
      });
      return -1;
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
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
