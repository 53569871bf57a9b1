/**
 * Where an execution's status is read (DESIGN.md: "`GET /executions/{arn}` describes an
 * execution to the caller who started it"), so the `statusUrl` of a 202 never leads nowhere:
 *
 * - a target with a GET route of its own (`/runs/*` or `/runs/:id`) is read there;
 * - an async Step Functions target without one is read at `/executions/{arn}`, a route the
 *   gateway adds after the configured ones. It answers only the caller who started the execution
 *   (the target checks the caller tag in its name), and only while a route that starts
 *   executions of that target would still allow them: reading needs no more than starting did,
 *   and no less;
 * - when a configured route already answers `GET /executions/…` (say a catch-all to an HTTP
 *   upstream), the gateway does not claim the path, and such a target's 202 has no `statusUrl`;
 * - an Argo target without a GET route has none either: an ARN names its state machine, so the
 *   added route knows which target to ask, but a workflow name names only its caller, not the
 *   argo-server, namespace and template that hold it.
 *
 * Pure: config in, routes and URLs out.
 */
import type { Config, RouteConfig } from '../config/schema.ts';
import type { RouteTable } from './routes.ts';

/** Name (and target name) of the added route: no configured name can take this form. */
export const EXECUTIONS_ROUTE = 'stepgate:executions';
const EXECUTIONS_BASE = '/executions/';
/** A path the added route would answer: if a configured route takes it, the gateway stays out. */
const SAMPLE = `${EXECUTIONS_BASE}arn:aws:states:us-east-1:123456789012:execution:x:y`;

export interface ExecutionsRoute {
  readonly route: RouteConfig;
  /** The configured routes (indexes) whose policies decide who may read: those that start. */
  readonly allowedBy: readonly number[];
  /** The async Step Functions targets read through it. */
  readonly targets: readonly string[];
}

type Targets = Config['targets'];

/** A path whose last segment names one execution: `/runs/*`, or `/runs/:id` (any parameter name). */
const READ_PATH = /^(.*\/)(?:\*|:([A-Za-z_][A-Za-z0-9_]*))$/;

/**
 * How `path` (a route's) names an execution: the base before the last segment, and the name of
 * its `:param` (none for `/*`); undefined for a path that does not end in one.
 */
export function executionSegment(path: string): { readonly base: string; readonly param?: string } | undefined {
  const m = READ_PATH.exec(path);
  if (!m) return undefined;
  return m[2] === undefined ? { base: m[1]! } : { base: m[1]!, param: m[2] };
}

/** The target's own base for reading executions: its first GET route that names one. */
function ownBase(target: string, routes: readonly RouteConfig[]): string | undefined {
  for (const route of routes) {
    if (route.target !== target || !route.methods.includes('GET')) continue;
    const segment = executionSegment(route.path);
    if (segment) return segment.base;
  }
  return undefined;
}

/**
 * The route the gateway adds for async targets without a GET route of their own, or undefined
 * when there are none or `GET /executions/…` is already a configured route's. `table` is the
 * configured routes' table.
 */
export function executionsRoute(
  routes: readonly RouteConfig[],
  targets: Targets,
  table: RouteTable,
): ExecutionsRoute | undefined {
  const starts = (name: string) =>
    routes.flatMap((route, index) => (route.target === name && route.methods.includes('POST') ? [index] : []));
  const served = Object.entries(targets)
    .filter(([name, t]) => t.type === 'stepfunctions' && t.mode === 'async' && !ownBase(name, routes))
    .map(([name]) => name)
    .filter((name) => starts(name).length > 0);
  if (served.length === 0 || table.match('GET', SAMPLE)) return undefined;
  const allowedBy = served.flatMap(starts);
  const startRoutes = allowedBy.map((i) => routes[i]!);
  // Any issuer a start route takes may read; none restricted when one of them takes all.
  const unrestricted = startRoutes.some((r) => !r.issuers);
  const issuers = unrestricted ? undefined : [...new Set(startRoutes.flatMap((r) => r.issuers!))];
  const route: RouteConfig = {
    name: EXECUTIONS_ROUTE,
    path: `${EXECUTIONS_BASE}*`,
    methods: ['GET', 'HEAD'],
    target: EXECUTIONS_ROUTE,
    auth: [...new Set(startRoutes.flatMap((r) => r.auth))],
    ...(issuers ? { issuers } : {}),
    public: false,
  };
  return { route, allowedBy, targets: served };
}

/**
 * Where `target`'s executions are read (absolute when `publicUrl` is set), or undefined when no
 * route serves them: then no `statusUrl` is given.
 */
export function statusUrlBase(
  target: string,
  routes: readonly RouteConfig[],
  executions: ExecutionsRoute | undefined,
  publicUrl?: string,
): string | undefined {
  const base = ownBase(target, routes) ?? (executions?.targets.includes(target) ? EXECUTIONS_BASE : undefined);
  if (base === undefined) return undefined;
  return (publicUrl ? publicUrl.replace(/\/+$/, '') : '') + base;
}
