/**
 * The workloads and their tokens, all signed before any load starts: one token repeated (a
 * typical client), 10,000 in rotation (they fit the verified-token cache), 50,000 in rotation
 * (more than the cache holds, and sent in order, so an LRU cache never holds a token when it
 * comes round: every request is a full verification) and a deny-heavy mix that stepgate answers
 * 401. Signed sets are cached per issuer key (issuer.ts) and signed again when a week old.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TOKEN_CACHE_ENTRIES } from '../../src/identity/token-cache.ts';
import { type BenchIssuer, TOKEN_SET_MAX_AGE_MS, writeAtomically } from './issuer.ts';
import type { TokenSet } from './load.ts';
import { say } from './settings.ts';

export interface Workload {
  readonly id: 'repeated' | 'rotating' | 'fresh' | 'deny';
  readonly label: string;
  readonly tokens: TokenSet;
  /** What stepgate answers; the upstream and the bare proxy answer 200 to everything. */
  readonly stepgateStatus: 200 | 401;
}

export type Workloads = Readonly<Record<Workload['id'], Workload>>;

/** Tokens in rotation that the verified-token cache holds. */
export const ROTATING_TOKENS = 10_000;
/** Tokens in rotation that it cannot: each one is verified afresh. */
export const FRESH_TOKENS = 50_000;

if (ROTATING_TOKENS + 1 > DEFAULT_TOKEN_CACHE_ENTRIES || FRESH_TOKENS <= 2 * DEFAULT_TOKEN_CACHE_ENTRIES) {
  throw new RangeError(
    `the token sets no longer say what their labels say (verified-token cache: ${DEFAULT_TOKEN_CACHE_ENTRIES} entries)`,
  );
}

/** Not JSON once decoded: refused before any signature check. */
const MALFORMED = 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln';

/**
 * The token set `name` from the cache, or `make()` signed now and cached (one token per line,
 * `-` for "no Authorization header"). Returns it and whether it had to be signed.
 */
function tokenSet(
  dir: string,
  name: string,
  make: () => string[],
): { set: TokenSet; signed: number } {
  const file = join(dir, `${name}.tokens`);
  if (existsSync(file) && Date.now() - statSync(file).mtimeMs < TOKEN_SET_MAX_AGE_MS) {
    const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
    return { set: { name, file, tokens: lines.map((t) => (t === '-' ? '' : t)) }, signed: 0 };
  }
  const tokens = make();
  writeAtomically(file, `${tokens.map((t) => (t === '' ? '-' : t)).join('\n')}\n`);
  return { set: { name, file, tokens }, signed: tokens.length };
}

export function makeWorkloads(issuer: BenchIssuer): Workloads {
  const started = performance.now();
  mkdirSync(issuer.cacheDir, { recursive: true });
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const expired = { exp: Math.floor(Date.now() / 1000) - 3600 };
  let signed = 0;
  const set = (name: string, make: () => string[]) => {
    const made = tokenSet(issuer.cacheDir, name, make);
    signed += made.signed;
    return made.set;
  };
  const workloads: Workloads = {
    repeated: {
      id: 'repeated',
      label: 'one token repeated',
      tokens: set('repeated', () => [issuer.token(0)]),
      stepgateStatus: 200,
    },
    rotating: {
      id: 'rotating',
      label: '10,000 tokens rotated (cached)',
      tokens: set('rotating', () => range(ROTATING_TOKENS).map((i) => issuer.token(1 + i))),
      stepgateStatus: 200,
    },
    fresh: {
      id: 'fresh',
      label: '50,000 tokens rotated (each verified)',
      tokens: set('fresh', () => range(FRESH_TOKENS).map((i) => issuer.token(100_000 + i))),
      stepgateStatus: 200,
    },
    deny: {
      id: 'deny',
      label: 'deny-heavy (401s)',
      tokens: set('deny', () =>
        range(1000).map((i) => {
          const kind = i % 10;
          if (kind <= 3) return issuer.forgedToken(i); // 40%: the signature does not verify
          if (kind <= 5) return issuer.token(i, expired); // 20%: expired an hour before signing
          if (kind <= 7) return issuer.token(i, { aud: 'someone-else' }); // 20%: another audience
          if (kind === 8) return ''; // 10%: no Authorization header
          return MALFORMED; // 10%
        }),
      ),
      stepgateStatus: 401,
    },
  };
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  say(
    signed > 0
      ? `  signed ${signed} tokens in ${seconds} s (cached in ${issuer.cacheDir} for later runs)`
      : `  token sets read from ${issuer.cacheDir} (${seconds} s)`,
  );
  return workloads;
}
