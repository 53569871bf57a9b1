/**
 * The workloads and their tokens, all signed before any load starts: one token repeated (a
 * typical client), 1,000 rotated, a fresh one per request (the verifier cache's worst case) and a
 * deny-heavy mix whose requests stepgate answers 401.
 */
import { DEFAULT_TOKEN_CACHE_ENTRIES } from '../../src/identity/token-cache.ts';
import type { BenchIssuer } from './issuer.ts';
import { type TokenSet, writeTokenSet } from './load.ts';
import { say } from './settings.ts';

export interface Workload {
  readonly id: 'repeated' | 'rotating' | 'fresh' | 'deny';
  readonly label: string;
  readonly tokens: TokenSet;
  /** What stepgate answers; the upstream and the bare proxy answer 200 to everything. */
  readonly stepgateStatus: 200 | 401;
}

export type Workloads = Readonly<Record<Workload['id'], Workload>>;

/** Not JSON once decoded: refused before any signature check. */
const MALFORMED = 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln';

export function makeWorkloads(issuer: BenchIssuer, dir: string): Workloads {
  const started = performance.now();
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  // Every token of the fresh pool is sent once per pass over it; a pool twice the verifier cache's
  // capacity means an LRU cache never holds a token when it comes round again.
  const freshCount = 2 * DEFAULT_TOKEN_CACHE_ENTRIES;
  const expired = { exp: Math.floor(Date.now() / 1000) - 3600 };
  const deny = range(1000).map((i) => {
    const kind = i % 10;
    if (kind <= 3) return issuer.forgedToken(i); // 40%: the signature does not verify
    if (kind <= 5) return issuer.token(i, expired); // 20%: expired an hour ago
    if (kind <= 7) return issuer.token(i, { aud: 'someone-else' }); // 20%: another audience
    if (kind === 8) return ''; // 10%: no Authorization header
    return MALFORMED; // 10%
  });
  const workloads: Workloads = {
    repeated: {
      id: 'repeated',
      label: 'one token repeated',
      tokens: writeTokenSet(dir, 'repeated', [issuer.token(0)]),
      stepgateStatus: 200,
    },
    rotating: {
      id: 'rotating',
      label: '1,000 tokens rotated',
      tokens: writeTokenSet(
        dir,
        'rotating',
        range(1000).map((i) => issuer.token(1 + i)),
      ),
      stepgateStatus: 200,
    },
    fresh: {
      id: 'fresh',
      label: 'fresh token per request',
      tokens: writeTokenSet(
        dir,
        'fresh',
        range(freshCount).map((i) => issuer.token(10_000 + i)),
      ),
      stepgateStatus: 200,
    },
    deny: {
      id: 'deny',
      label: 'deny-heavy (401s)',
      tokens: writeTokenSet(dir, 'deny', deny),
      stepgateStatus: 401,
    },
  };
  const signed = 1 + 1000 + freshCount + 800;
  say(
    `  signed ${signed} tokens in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return workloads;
}
