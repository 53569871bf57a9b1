/**
 * The policy version recorded in every audit record: the sha256 of the routes (paths, methods,
 * targets and policies) that decided, so an auditor can tell which rules were in force. Keys are
 * sorted at every depth, so the same routes written in another key order hash the same; array
 * order is kept, since route order and list order are meaningful.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.ts';
import type { RouteConfig } from '../config/schema.ts';

/** sha256 hex of the canonical JSON of `routes`. */
export function policyVersion(routes: readonly RouteConfig[]): string {
  return createHash('sha256').update(canonicalJson(routes)).digest('hex');
}
