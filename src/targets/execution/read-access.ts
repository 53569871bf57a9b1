/**
 * Reading an execution back: which path names it. A caller reads what they started; a route's
 * `readAnyExecution` conditions (compiled with the routes: policy/routing.ts) let others read
 * everything of the target (`ForwardCall.readAny`). Where the status lives is `statusUrlBase`
 * (policy/execution-routes.ts).
 */
import type { RouteConfig } from '../../config/schema.ts';
import { executionSegment } from '../../policy/execution-routes.ts';

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
