/**
 * Express workflows are not idempotent in AWS (StartSyncExecution runs again for the same name),
 * so with `redis:` configured an `Idempotency-Key` on a `mode: sync` target is deduplicated here:
 *
 * - `begin` claims the key with SET NX and a short time-to-live (the call's time-out and a
 *   margin): a gateway that dies mid-call does not lock the key for a day.
 * - `complete` replaces the claim (only if it is still ours) with the response, kept 24 h; a
 *   retry with the same body gets that response again, with another body a 409.
 * - `abandon` drops the claim when the call did not run (throttled, AWS unreachable): a retry may
 *   try again.
 *
 * Keys are `idempotency:<sha256(state machine, execution name)>`; the execution name already
 * scopes the key to the caller and the route.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRedisClient } from '../../redis.ts';
import { GatewayError } from '../../errors.ts';

export const DEDUPE_TTL_SECONDS = 24 * 60 * 60;

/** How a synchronous execution ended: what a repeated key is answered with. */
export interface StoredExecution {
  readonly executionArn: string;
  readonly status: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

export type Claim =
  | { readonly state: 'claimed'; readonly token: string }
  | { readonly state: 'pending'; readonly bodyHash: string }
  | { readonly state: 'done'; readonly bodyHash: string; readonly execution: StoredExecution };

export interface DedupeStore {
  begin(stateMachineArn: string, name: string, bodyHash: string, pendingMs: number): Promise<Claim>;
  complete(
    stateMachineArn: string,
    name: string,
    token: string,
    bodyHash: string,
    execution: StoredExecution,
  ): Promise<void>;
  abandon(stateMachineArn: string, name: string, token: string): Promise<void>;
  close(): Promise<void>;
}

/** Sets KEYS[1] to ARGV[2] (EX ARGV[3]) or deletes it (no ARGV[2]) only while it holds ARGV[1]. */
const SWAP = `if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == nil then return redis.call('del', KEYS[1]) end
redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1`;

interface PendingValue {
  readonly v: 1;
  readonly state: 'pending';
  readonly token: string;
  readonly bodyHash: string;
}

interface DoneValue {
  readonly v: 1;
  readonly state: 'done';
  readonly bodyHash: string;
  readonly execution: StoredExecution;
}

export function createDedupeStore(options: {
  url: string;
  keyPrefix?: string;
  commandTimeoutMs?: number;
}): DedupeStore {
  const redis = createRedisClient({
    url: options.url,
    keyPrefix: options.keyPrefix,
    commandTimeoutMs: options.commandTimeoutMs ?? 2000,
    lazyConnect: true,
  });
  const keyOf = (arn: string, name: string) =>
    `idempotency:${createHash('sha256').update(`${arn}\0${name}`).digest('base64url')}`;
  const pendingValue = (token: string, bodyHash: string) =>
    JSON.stringify({ v: 1, state: 'pending', token, bodyHash } satisfies PendingValue);

  async function call<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      // Never run an Express execution that might be a duplicate: no store, no start.
      throw new GatewayError('SG_ERR_IDEMPOTENCY_UNAVAILABLE', `the idempotency store failed (${what})`, {
        cause: err,
      });
    }
  }

  return {
    async begin(arn, name, bodyHash, pendingMs) {
      const key = keyOf(arn, name);
      for (let attempt = 0; attempt < 3; attempt++) {
        const token = randomBytes(16).toString('base64url');
        const set = await call('SET NX', () =>
          redis.set(key, pendingValue(token, bodyHash), 'PX', pendingMs, 'NX'),
        );
        if (set === 'OK') return { state: 'claimed', token };
        const raw = await call('GET', () => redis.get(key));
        if (raw === null) continue; // expired between the two commands
        const value = JSON.parse(raw) as PendingValue | DoneValue;
        if (value.state === 'done')
          return { state: 'done', bodyHash: value.bodyHash, execution: value.execution };
        return { state: 'pending', bodyHash: value.bodyHash };
      }
      throw new GatewayError('SG_ERR_IDEMPOTENCY_UNAVAILABLE', 'the idempotency key could not be claimed');
    },
    async complete(arn, name, token, bodyHash, execution) {
      const done = JSON.stringify({ v: 1, state: 'done', bodyHash, execution } satisfies DoneValue);
      await call('EVAL', () =>
        redis.eval(SWAP, 1, keyOf(arn, name), pendingValue(token, bodyHash), done, DEDUPE_TTL_SECONDS),
      );
    },
    async abandon(arn, name, token) {
      const key = keyOf(arn, name);
      const raw = await call('GET', () => redis.get(key));
      if (raw === null) return;
      const value = JSON.parse(raw) as PendingValue | DoneValue;
      if (value.state !== 'pending' || value.token !== token) return;
      await call('EVAL', () => redis.eval(SWAP, 1, key, raw));
    },
    async close() {
      redis.disconnect();
    },
  };
}
