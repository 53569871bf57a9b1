/**
 * The verified-token cache: a client sends the same bearer token on every call until it expires,
 * and checking its RS256 signature again each time is the largest cost of a request. An entry is
 * the `Identity` a full verification produced, for exactly that token: a hit compares the whole
 * token (two tokens that differ in one byte are two entries; nothing is parsed before the
 * lookup). The map is keyed by the token's last 64 characters, part of its signature, so a
 * lookup hashes 64 characters rather than a kilobyte.
 *
 * - Bounded: at most `maxEntries` entries and `maxChars` characters of tokens, least recently
 *   used evicted first (a sixteenth at a time), so memory stays bounded whatever tokens arrive.
 * - An entry lives no longer than min(exp − now, `ttlMs` (60 s)): `exp` exactly, without the
 *   clock skew a full verification allows, so a cached token is never served once expired; the
 *   short TTL bounds how long a change the cache cannot see (a revoked client, a changed config)
 *   goes unnoticed.
 * - `dropKeys` removes the entries verified with signing keys that left the issuer's JWKS, so a
 *   key the IdP retires (or withdraws after a compromise) stops authenticating at once.
 */

/**
 * Default capacity: comfortably more distinct tokens than a busy gateway sees in 60 s. A power of
 * two above 10,000, so 10,000 clients in rotation fit with room to spare: an LRU cache one entry
 * short of a rotation misses on every request.
 */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 16_384;
/** Default bound on the cached tokens' text (and so on the claims they carry): 16 Mi characters. */
export const DEFAULT_TOKEN_CACHE_CHARS = 16 * 1024 * 1024;
/** Longest life of an entry, however far away the token's `exp` is. */
export const TOKEN_CACHE_TTL_MS = 60_000;
const KEY_CHARS = 64;

export interface TokenCacheOptions {
  readonly maxEntries?: number | undefined;
  readonly maxChars?: number | undefined;
  readonly ttlMs?: number | undefined;
}

/** Where a cached verification came from: which issuer and which key (`kid`, `''` when none). */
export interface TokenOrigin {
  readonly issuer: string;
  readonly kid: string;
  /** The token's `exp`, in milliseconds since the epoch. */
  readonly expMs: number;
}

export interface TokenCacheStats {
  readonly entries: number;
  readonly hits: number;
  readonly misses: number;
}

interface Entry<T> {
  readonly token: string;
  readonly value: T;
  readonly issuer: string;
  readonly kid: string;
  readonly expiresAtMs: number;
  /** `#tick` when the entry last moved to the recent end of the map. */
  tick: number;
}

/** The map key: enough of the signature to tell tokens apart; `get` compares whole tokens. */
const keyOf = (token: string): string => (token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token);

export class TokenCache<T> {
  readonly #maxEntries: number;
  readonly #maxChars: number;
  readonly #ttlMs: number;
  /**
   * Insertion order is recency order: eviction takes the first entry. A hit moves its entry to
   * the end unless it moved there less than a quarter of the capacity of moves ago (most hits
   * then cost one lookup); an entry in use is still never the oldest one.
   */
  readonly #entries = new Map<string, Entry<T>>();
  #tick = 0;
  #chars = 0;
  #hits = 0;
  #misses = 0;

  constructor(options: TokenCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
    this.#maxChars = options.maxChars ?? DEFAULT_TOKEN_CACHE_CHARS;
    this.#ttlMs = options.ttlMs ?? TOKEN_CACHE_TTL_MS;
    if (!(this.#maxEntries >= 0 && this.#maxChars >= 0 && this.#ttlMs >= 0)) {
      throw new TypeError('token cache bounds must be non-negative numbers');
    }
  }

  /** The cached value of `token` if its entry is still live at `nowMs`. */
  get(token: string, nowMs: number): T | undefined {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.token !== token) {
      this.#misses++;
      return undefined;
    }
    if (nowMs >= entry.expiresAtMs) {
      this.#delete(key);
      this.#misses++;
      return undefined;
    }
    if (this.#tick - entry.tick > this.#maxEntries >> 2) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      entry.tick = ++this.#tick;
    }
    this.#hits++;
    return entry.value;
  }

  /** Caches `value` until min(`origin.expMs`, now + ttl); a token that is already expired is not. */
  set(token: string, value: T, origin: TokenOrigin, nowMs: number): void {
    const expiresAtMs = Math.min(origin.expMs, nowMs + this.#ttlMs);
    if (!(expiresAtMs > nowMs) || token.length > this.#maxChars || this.#maxEntries === 0) return;
    const key = keyOf(token);
    this.#delete(key);
    this.#entries.set(key, {
      token,
      value,
      issuer: origin.issuer,
      kid: origin.kid,
      expiresAtMs,
      tick: ++this.#tick,
    });
    this.#chars += token.length;
    if (this.#entries.size > this.#maxEntries || this.#chars > this.#maxChars) this.#evict();
  }

  /**
   * Forgets what `issuer`'s keys `kids` verified. A token without `kid` may have been verified by
   * any of the issuer's keys, so it goes whenever any key goes.
   */
  dropKeys(issuer: string, kids: ReadonlySet<string>): void {
    if (kids.size === 0) return;
    for (const [key, entry] of this.#entries) {
      if (entry.issuer === issuer && (entry.kid === '' || kids.has(entry.kid))) this.#delete(key);
    }
  }

  /** Forgets everything cached for `issuer`. */
  dropIssuer(issuer: string): void {
    for (const [key, entry] of this.#entries) if (entry.issuer === issuer) this.#delete(key);
  }

  clear(): void {
    this.#entries.clear();
    this.#chars = 0;
  }

  stats(): TokenCacheStats {
    return { entries: this.#entries.size, hits: this.#hits, misses: this.#misses };
  }

  /**
   * Evicts down to fifteen sixteenths of the bound that was passed, least recently used first: deleting from the
   * front of a Map leaves holes every later walk from the front steps over, so one walk per many
   * insertions, not one per insertion.
   */
  #evict(): void {
    const entryTarget =
      this.#entries.size > this.#maxEntries ? this.#maxEntries - (this.#maxEntries >> 4) : Infinity;
    const charTarget = this.#chars > this.#maxChars ? this.#maxChars - (this.#maxChars >> 4) : Infinity;
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= entryTarget && this.#chars <= charTarget) break;
      this.#delete(oldest);
    }
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#chars -= entry.token.length;
  }
}
