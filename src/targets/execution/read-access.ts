/**
 * Reading an execution back: which path names it, who may read it, and where its status lives.
 * A caller reads what they started; a route's `readAnyExecution` conditions (the syntax of
 * `allow`) let others read everything of the target.
 */
import type { RouteConfig } from '../../config/schema.ts';
import type { Identity } from '../../identity/types.ts';
import { compilePolicy } from '../../policy/evaluate.ts';
import type { Decision, Subject } from '../../policy/types.ts';

const readAnyPolicies = new WeakMap<RouteConfig, (subject: Subject) => Decision>();

/** Whether the route's `readAnyExecution` conditions hold for `identity`. */
export function mayReadAny(route: RouteConfig, identity: Identity): boolean {
  if (!route.readAnyExecution) return false;
  let policy = readAnyPolicies.get(route);
  if (!policy) {
    policy = compilePolicy({ ...route, public: false, allow: route.readAnyExecution });
    readAnyPolicies.set(route, policy);
  }
  return policy(identity).allow;
}

const TRAILING_PARAM = /\/:([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * What the path names: the route's trailing `:param`, or the one segment after its `/*` prefix,
 * percent-decoded (an ARN's `:` may come as `%3A`); `undefined` for anything else.
 */
export function executionIdFromPath(
  route: RouteConfig,
  path: string,
  params: Readonly<Record<string, string>>,
): string | undefined {
  const param = TRAILING_PARAM.exec(route.path)?.[1];
  let raw: string | undefined = param === undefined ? undefined : params[param];
  if (raw === undefined && route.path.endsWith('/*')) {
    const base = route.path.slice(0, -1);
    raw = path.startsWith(base) ? path.slice(base.length) : undefined;
  }
  if (!raw || raw.includes('/')) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Where a target's executions are read: the first GET route to it with a `/*` or `/:param` path,
 * else the conventional `/executions/`; absolute when `server.publicUrl` is set.
 */
export function statusUrlBase(target: string, routes: readonly RouteConfig[], publicUrl?: string): string {
  const route = routes.find(
    (r) => r.target === target && r.methods.includes('GET') && (r.path.endsWith('/*') || TRAILING_PARAM.test(r.path)),
  );
  const base = route ? route.path.replace(/\/(?:\*|:[A-Za-z_][A-Za-z0-9_]*)$/, '/') : '/executions/';
  return (publicUrl ? publicUrl.replace(/\/+$/, '') : '') + base;
}
