/**
 * Reading an execution back: which path names it, and who may read it. A caller reads what they
 * started; a route's `readAnyExecution` conditions (the syntax of `allow`) let others read
 * everything of the target. Where the status lives is `statusUrlBase` (policy/execution-routes.ts).
 */
import type { RouteConfig } from '../../config/schema.ts';
import type { Identity } from '../../identity/types.ts';
import { compilePolicy } from '../../policy/evaluate.ts';
import { executionSegment } from '../../policy/execution-routes.ts';
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

/**
 * What the path names: the route's trailing `:param`, or the one segment after its `/*` prefix,
 * percent-decoded (an ARN's `:` may come as `%3A`); `undefined` for anything else.
 */
export function executionIdFromPath(
  route: RouteConfig,
  path: string,
  params: Readonly<Record<string, string>>,
): string | undefined {
  const segment = executionSegment(route.path);
  if (!segment) return undefined;
  let raw: string | undefined;
  if (segment.param !== undefined) raw = params[segment.param];
  else if (path.startsWith(segment.base)) raw = path.slice(segment.base.length);
  if (!raw || raw.includes('/')) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
