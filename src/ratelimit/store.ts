/**
 * Where rate-limit counters live. A fixed window per key: the first hit starts a window of
 * `windowMs`, every hit in it increments the count, and the window ends `windowMs` after it began.
 * `memory` serves one replica; `redis` (ratelimit/redis-store.ts) is shared by every replica.
 */

/** The count after a hit, and how long until its window ends. */
export interface WindowCount {
  readonly count: number;
  readonly resetInMs: number;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /** Counts one hit on `key`; rejects only when the store cannot be reached. */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  close(): Promise<void>;
}

export interface MemoryStoreOptions {
  /** The most keys kept (default 100 000); beyond it the oldest window is forgotten. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

interface Window {
  count: number;
  readonly endsAt: number;
}

/** How often, at most, a full map reaches for expired windows before evicting a live one. */
const SWEEP_INTERVAL_MS = 1000;

/**
 * One replica's counters in a bounded map. Windows are kept in the order they began (a new window
 * is re-inserted), so when the map is full and nothing has expired, the oldest window is dropped:
 * memory stays bounded under a flood of distinct callers, at the price of a fresh budget for the
 * caller whose window was dropped.
 */
export function createMemoryRateLimitStore(options: MemoryStoreOptions = {}): RateLimitStore {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  const windows = new Map<string, Window>();
  let lastSweep = 0;

  function makeRoom(at: number): void {
    if (windows.size < maxKeys) return;
    if (at - lastSweep >= SWEEP_INTERVAL_MS) {
      lastSweep = at;
      for (const [key, window] of windows) if (window.endsAt <= at) windows.delete(key);
    }
    while (windows.size >= maxKeys) {
      const oldest = windows.keys().next().value;
      if (oldest === undefined) break;
      windows.delete(oldest);
    }
  }

  return {
    kind: 'memory',
    async hit(key, windowMs) {
      const at = now();
      let window = windows.get(key);
      if (!window || window.endsAt <= at) {
        windows.delete(key);
        makeRoom(at);
        window = { count: 0, endsAt: at + windowMs };
        windows.set(key, window);
      }
      window.count += 1;
      return { count: window.count, resetInMs: window.endsAt - at };
    },
    async close() {
      windows.clear();
    },
  };
}
