/**
 * Load generators. wrk when it is installed (C, one thread, microsecond latency histogram), else
 * autocannon (in this process; latency in whole milliseconds). Both keep a fixed number of
 * connections busy for a fixed time, or — with `ratePerSec` — pace requests to a mean rate.
 *
 * Tokens are read from a file, one per line (`-` sends no Authorization header), and rotated
 * request by request from `offset`, so a run can continue where the previous one stopped (the
 * fresh-token workload must never send a token twice within the verifier cache's capacity).
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinned } from './cpus.ts';

export interface TokenSet {
  readonly name: string;
  /** One token per line; `-` for "no Authorization header". */
  readonly file: string;
  readonly tokens: readonly string[];
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSec: number;
  /** No tokens: requests carry no Authorization header. */
  readonly tokens?: TokenSet | undefined;
  readonly offset?: number;
  /** Pace to about this many requests per second in total (latency at a given load). */
  readonly ratePerSec?: number | undefined;
}

export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses with a status outside 2xx/3xx. */
  readonly non2xx: number;
  /** Connect, read, write errors and time-outs. */
  readonly errors: number;
}

export interface Loader {
  readonly name: 'wrk' | 'autocannon';
  /** Smallest latency difference the tool can see, in ms. */
  readonly resolutionMs: number;
  run(options: LoadOptions): Promise<LoadResult>;
}

const WRK_SCRIPT = `
local tokens, n, i = {}, 0, 0
local mean_delay = 0
init = function(args)
  if args[1] ~= "" then
    for line in io.lines(args[1]) do n = n + 1; tokens[n] = line end
  end
  i = tonumber(args[2]) or 0
  mean_delay = tonumber(args[3]) or 0
  math.randomseed(os.time())
end
request = function()
  if n > 0 then
    i = i % n + 1
    local t = tokens[i]
    if t == "-" then wrk.headers["Authorization"] = nil else wrk.headers["Authorization"] = "Bearer " .. t end
  end
  return wrk.format()
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"p50Us":%.0f,"p99Us":%.0f,"status":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
`;

/** Only defined in the paced script: wrk switches to timed sends when \`delay\` exists. */
const WRK_DELAY = `
delay = function() return math.random(0, 2 * mean_delay) end
`;

function createWrk(scriptDir: string, cpus: string | undefined): Loader {
  const plain = join(scriptDir, 'load.lua');
  const paced = join(scriptDir, 'load-paced.lua');
  writeFileSync(plain, WRK_SCRIPT);
  writeFileSync(paced, WRK_SCRIPT + WRK_DELAY);
  return {
    name: 'wrk',
    resolutionMs: 0.001,
    run(options) {
      // Each connection waits a random 0..2×mean ms between requests: mean rate ≈ connections / mean.
      const meanDelayMs = options.ratePerSec
        ? Math.max(
            1,
            Math.round((options.connections / options.ratePerSec) * 1000),
          )
        : 0;
      const args = [
        '-t1',
        `-c${options.connections}`,
        `-d${options.durationSec}s`,
        '--timeout',
        '5s',
        '-s',
        meanDelayMs ? paced : plain,
        options.url,
        '--',
        options.tokens?.file ?? '',
        String(options.offset ?? 0),
        String(meanDelayMs),
      ];
      return new Promise((resolve, reject) => {
        const [command, argv] = pinned(cpus, 'wrk', args);
        const child = spawn(command, argv, {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.stderr.on('data', (c: Buffer) => {
          out += c.toString();
        });
        // Bounded: wrk stops itself after -d; this only guards against a hang.
        const guard = setTimeout(
          () => child.kill('SIGKILL'),
          (options.durationSec + 30) * 1000,
        );
        child.once('exit', () => {
          clearTimeout(guard);
          const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
          if (!line) {
            reject(new Error(`wrk gave no result:\n${out}`));
            return;
          }
          const r = JSON.parse(line.slice(8)) as Record<string, number>;
          resolve({
            requests: r['requests']!,
            rps: r['requests']! / (r['durationUs']! / 1e6),
            p50Ms: r['p50Us']! / 1000,
            p99Ms: r['p99Us']! / 1000,
            non2xx: r['status']!,
            errors: r['errors']!,
          });
        });
      });
    },
  };
}

/** The part of autocannon's result this file reads (the package ships no types). */
interface AutocannonResult {
  readonly requests: { readonly total: number };
  readonly duration: number;
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

type Autocannon = (
  options: Record<string, unknown>,
) => Promise<AutocannonResult>;

async function createAutocannon(): Promise<Loader> {
  // Loaded only when used; a variable specifier because the package has no type declarations.
  const specifier = 'autocannon';
  const autocannon = ((await import(specifier)) as { default: Autocannon })
    .default;
  return {
    name: 'autocannon',
    resolutionMs: 1,
    async run(options) {
      const tokens = options.tokens?.tokens ?? [];
      let i = options.offset ?? 0;
      const result = await autocannon({
        url: options.url,
        connections: options.connections,
        duration: options.durationSec,
        ...(options.ratePerSec
          ? { overallRate: Math.round(options.ratePerSec) }
          : {}),
        requests: [
          {
            setupRequest(request: { headers: Record<string, string> }) {
              if (tokens.length === 0) return request;
              const token = tokens[i++ % tokens.length]!;
              const headers = { ...request.headers };
              if (token === '') delete headers['authorization'];
              else headers['authorization'] = `Bearer ${token}`;
              return { ...request, headers };
            },
          },
        ],
      });
      const total = result.requests.total;
      return {
        requests: total,
        rps: total / result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
      };
    },
  };
}

/**
 * wrk when `command -v wrk` finds it (unless `prefer` says otherwise), else autocannon. `cpus`:
 * where wrk runs (autocannon runs in this process).
 */
export async function createLoader(
  scriptDir: string,
  prefer?: 'wrk' | 'autocannon',
  cpus?: string,
): Promise<Loader> {
  const hasWrk =
    spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0;
  if (hasWrk && prefer !== 'autocannon') return createWrk(scriptDir, cpus);
  return createAutocannon();
}
