/** Shape checks for what comes back out of a cookie or Redis: sealed, but still checked. */
import type { SessionRecord } from './types.ts';

const str = (v: unknown): v is string => typeof v === 'string' && v !== '';
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    r['v'] === 1 &&
    str(r['id']) &&
    str(r['issuer']) &&
    str(r['sub']) &&
    optStr(r['sid']) &&
    num(r['createdAt']) &&
    num(r['lastSeenAt']) &&
    str(r['accessToken']) &&
    num(r['accessExpiresAt']) &&
    num(r['refreshedAt']) &&
    optStr(r['refreshToken']) &&
    optStr(r['idToken'])
  );
}
