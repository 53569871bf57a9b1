/**
 * The policy version recorded in every audit record: the sha256 of the routes (paths, methods,
 * targets and policies) that decided, so an auditor can tell which rules were in force. Keys are
 * sorted at every depth, so the same routes written in another key order hash the same; array
 * order is kept, since route order and list order are meaningful.
 */
import { createHash } from 'node:crypto';
import type { RouteConfig } from '../config/schema.ts';

/** JSON with object keys sorted by code unit; `undefined` members dropped as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
  }
  return `{${members.join(',')}}`;
}

/** sha256 hex of the canonical JSON of `routes`. */
export function policyVersion(routes: readonly RouteConfig[]): string {
  return createHash('sha256').update(canonicalJson(routes)).digest('hex');
}
