/**
 * What an export can carry of each route, independent of the mesh it is written for: its target,
 * methods, issuers and the alternatives of its policy (each `anyOf` entry with the direct
 * conditions folded in), and what is dropped — listed per route, and always by leaving a
 * permission out, never by widening one.
 */
import type { AllowConfig, Config, ConditionSetConfig, IssuerConfig, RouteConfig } from '../config/schema.ts';

export interface RoutePlan {
  readonly route: RouteConfig;
  /** The HTTP target's name: the workload (Istio) or HTTPRoute (Envoy Gateway) it protects. */
  readonly target: string;
  /** The route's methods, with HEAD wherever GET is (stepgate authorizes HEAD as GET). */
  readonly methods: readonly string[];
  /** Issuers whose tokens the route accepts (empty for a public route). */
  readonly issuers: readonly IssuerConfig[];
  /** Any one allows. Empty for a public route. */
  readonly alternatives: readonly Alternative[];
}

export interface ExportPlan {
  readonly routes: readonly RoutePlan[];
  /** Per route name: what the export could not carry. */
  readonly dropped: ReadonlyMap<string, string[]>;
}

/** Condition sets that must all hold: `allow`'s direct conditions and, with `anyOf`, one entry. */
export type Alternative = readonly ConditionSetConfig[];

/** `allow` as alternatives, any one of which allows: (direct AND anyOf[0]) OR (direct AND anyOf[1]) … */
export function alternativesOf(allow: AllowConfig): Alternative[] {
  const { anyOf, ...direct } = allow;
  return anyOf ? anyOf.map((entry) => [direct, entry]) : [[direct]];
}

export function planExport(config: Config): ExportPlan {
  const dropped = new Map<string, string[]>();
  const drop = (route: string, what: string) => dropped.set(route, [...(dropped.get(route) ?? []), what]);
  const routes: RoutePlan[] = [];
  for (const route of config.routes) {
    const target = config.targets[route.target];
    if (target?.type !== 'http') {
      drop(route.name, `the route goes to a ${target?.type ?? 'missing'} target: not exported (only gateway mode serves it)`);
      continue;
    }
    if (route.rateLimit) drop(route.name, 'rateLimit: not carried (configure the mesh\'s own rate limiting)');
    if (route.auth.includes('session')) {
      drop(route.name, 'auth: session: browser sessions are not carried, only bearer tokens');
    }
    const methods = route.methods.includes('GET') && !route.methods.includes('HEAD') ? [...route.methods, 'HEAD'] : [...route.methods];
    const names = route.issuers ?? config.issuers.map((issuer) => issuer.name);
    const issuers = route.public ? [] : config.issuers.filter((issuer) => names.includes(issuer.name));
    const alternatives = route.public || !route.allow ? [] : alternativesOf(route.allow);
    routes.push({ route, target: route.target, methods, issuers, alternatives });
  }
  return { routes, dropped };
}

/** A claim glob as a mesh can match it: exact, `prefix*`, `*suffix` or `*` (present); else undefined. */
export function simpleGlob(glob: string): { kind: 'exact' | 'prefix' | 'suffix' | 'present'; value: string } | undefined {
  const stars = glob.split('*').length - 1;
  if (stars === 0) return { kind: 'exact', value: glob };
  if (glob === '*') return { kind: 'present', value: '' };
  if (stars === 1 && glob.endsWith('*')) return { kind: 'prefix', value: glob.slice(0, -1) };
  if (stars === 1 && glob.startsWith('*')) return { kind: 'suffix', value: glob.slice(1) };
  return undefined;
}

/** The claim a preset reads scopes from (`generic` reads `scope`, or `scp` when there is none). */
export function scopeClaim(issuer: IssuerConfig): 'scope' | 'scp' | undefined {
  switch (issuer.preset) {
    case 'okta':
      return 'scp';
    case 'github-actions':
      return undefined;
    default:
      return 'scope';
  }
}

/** The claim path holding a role, as the preset reads it; undefined when the preset has no roles. */
export function roleClaim(issuer: IssuerConfig, role: string): { path: string[]; value: string } | undefined {
  if (issuer.preset === 'keycloak') {
    const colon = role.indexOf(':');
    return colon < 0
      ? { path: ['realm_access', 'roles'], value: role }
      : { path: ['resource_access', role.slice(0, colon), 'roles'], value: role.slice(colon + 1) };
  }
  return issuer.preset === 'generic' ? { path: ['roles'], value: role } : undefined;
}

/** Whether the preset reads groups from the `groups` claim. */
export const hasGroups = (issuer: IssuerConfig): boolean => issuer.preset !== 'github-actions';
