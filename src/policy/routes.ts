/**
 * The route table: config order, first match wins, no match is a 404 (`no_route`). Patterns are
 * compiled once; a request costs a method lookup and a string comparison per route (a segment
 * walk for `:param` routes), never a regex.
 *
 * Patterns (syntax checked at config load by `routePathProblem`):
 * - exact: `/api/orders` matches only `/api/orders` (not `/api/orders/`: routes are exact and
 *   case-sensitive, like Envoy's `path` and API Gateway's routes);
 * - prefix: `/api/orders/*` matches `/api/orders`, `/api/orders/` and everything below, never
 *   `/api/ordersx`; `/*` matches every path;
 * - params: `/executions/:arn` matches one non-empty segment; combinable with a trailing `/*`.
 *
 * Paths given to `match` must be canonical (`normalizeRequestTarget`). `HEAD` matches wherever
 * `GET` does (RFC 9110 §9.3.2), so both are authorized by the same route; a route listing only
 * `HEAD` does not match `GET`.
 */
import type { RouteConfig } from '../config/schema.ts';
import { routePathProblem } from '../config/cross-check.ts';

export interface RouteMatch {
  /** The route's position in the config (`routes[index]`). */
  readonly index: number;
  readonly route: RouteConfig;
  /** `:param` values, as they appear in the canonical path (still percent-encoded). */
  readonly params: Record<string, string>;
}

export interface RouteTable {
  readonly routes: readonly RouteConfig[];
  /** The first route, in config order, whose path and method both match; `undefined` when none. */
  match(method: string, path: string): RouteMatch | undefined;
}

type PathMatcher =
  | { readonly kind: 'exact'; readonly path: string }
  | { readonly kind: 'prefix'; readonly base: string; readonly baseSlash: string }
  | {
    readonly kind: 'params';
    /** Literal segment text, or `undefined` where a parameter sits. */
    readonly literals: readonly (string | undefined)[];
    readonly names: readonly (string | undefined)[];
    readonly rest: boolean;
  };

interface CompiledRoute {
  readonly index: number;
  readonly route: RouteConfig;
  readonly methods: ReadonlySet<string>;
  readonly matcher: PathMatcher;
}

function compilePattern(pattern: string): PathMatcher {
  const rest = pattern.endsWith('/*');
  const body = rest ? pattern.slice(0, -2) : pattern;
  if (!body.includes('/:')) {
    return rest ? { kind: 'prefix', base: body, baseSlash: `${body}/` } : { kind: 'exact', path: body };
  }
  const segments = body.slice(1).split('/');
  return {
    kind: 'params',
    literals: segments.map((s) => (s.startsWith(':') ? undefined : s)),
    names: segments.map((s) => (s.startsWith(':') ? s.slice(1) : undefined)),
    rest,
  };
}

/** Matches canonical `segments` (from `path.split('/')`, so `segments[0]` is `''`). */
function matchParams(
  matcher: Extract<PathMatcher, { kind: 'params' }>,
  segments: readonly string[],
): Record<string, string> | undefined {
  const { literals, names, rest } = matcher;
  const count = literals.length;
  const available = segments.length - 1;
  if (rest) {
    // `/a/:id/*` takes `/a/1`, `/a/1/` and `/a/1/x/y`.
    if (available < count) return undefined;
  } else if (available !== count) {
    return undefined;
  }
  const params: Record<string, string> = Object.create(null);
  for (let i = 0; i < count; i++) {
    const segment = segments[i + 1]!;
    const literal = literals[i];
    if (literal === undefined) {
      if (segment === '') return undefined;
      params[names[i]!] = segment;
    } else if (segment !== literal) {
      return undefined;
    }
  }
  return params;
}

function allowedMethods(route: RouteConfig): ReadonlySet<string> {
  const methods = new Set<string>(route.methods);
  if (methods.has('GET')) methods.add('HEAD');
  return methods;
}

/**
 * Compiles the configured routes. Misuse (a path the config loader would have refused) throws a
 * `TypeError` at boot, never at request time.
 */
export function compileRoutes(routes: readonly RouteConfig[]): RouteTable {
  const compiled: CompiledRoute[] = routes.map((route, index) => {
    const problem = routePathProblem(route.path);
    if (problem) throw new TypeError(`routes[${index}].path: ${problem}`);
    return { index, route, methods: allowedMethods(route), matcher: compilePattern(route.path) };
  });

  return {
    routes,
    match(method: string, path: string): RouteMatch | undefined {
      let segments: string[] | undefined;
      for (const entry of compiled) {
        if (!entry.methods.has(method)) continue;
        const matcher = entry.matcher;
        if (matcher.kind === 'exact') {
          if (path === matcher.path) return { index: entry.index, route: entry.route, params: {} };
        } else if (matcher.kind === 'prefix') {
          if (path === matcher.base || path.startsWith(matcher.baseSlash)) {
            return { index: entry.index, route: entry.route, params: {} };
          }
        } else {
          segments ??= path.split('/');
          const params = matchParams(matcher, segments);
          if (params) return { index: entry.index, route: entry.route, params };
        }
      }
      return undefined;
    },
  };
}
