/**
 * `stepgate export envoy-gateway`: per HTTP target, one SecurityPolicy (gateway.envoyproxy.io
 * v1alpha1) on the HTTPRoute named after the target: a JWT provider per issuer (remote JWKS,
 * audiences, the token read only from `Authorization: Bearer`), and authorization that denies by
 * default and allows, per route, its methods on its path for the tokens its policy accepts
 * (`principal.jwt`: provider, scopes, claims). Claims match exactly there, so claim globs are left
 * out (with the alternative that needs them).
 */
import type { IssuerConfig } from '../config/schema.ts';
import { objectName } from './istio.ts';
import { type Alternative, type ExportPlan, hasGroups, roleClaim, type RoutePlan, scopeClaim, simpleGlob } from './plan.ts';

type Doc = Record<string, unknown>;
interface Claim {
  name: string;
  valueType: 'String' | 'StringArray';
  values: string[];
}
interface Principal {
  provider: string;
  scopes?: string[];
  claims?: Claim[];
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The route's path as an Envoy Gateway path match (RE2, matched against the whole path). */
export function pathMatch(path: string): { type: 'Exact' | 'PathPrefix' | 'RegularExpression'; value: string } {
  if (path === '/*') return { type: 'PathPrefix', value: '/' };
  const rest = path.endsWith('/*');
  const base = rest ? path.slice(0, -2) : path;
  if (!rest && !base.includes('/:')) return { type: 'Exact', value: base };
  const pattern = base
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : escapeRegex(segment)))
    .join('/');
  return { type: 'RegularExpression', value: rest ? `${pattern}(/.*)?` : pattern };
}

/** The principals (any one allows) of one alternative for one issuer; empty if it can never hold there. */
function principalsFor(issuer: IssuerConfig, alternative: Alternative, drop: (what: string) => void): Principal[] {
  const scopes: string[] = [];
  const claims: Claim[] = [];
  let anyScopes: readonly string[] | undefined;
  for (const set of alternative) {
    if ((set.scopes || set.anyScopes) && !scopeClaim(issuer)) return [];
    scopes.push(...(set.scopes ?? []));
    if (set.anyScopes) {
      if (anyScopes) {
        drop('two anyScopes lists in one alternative: left out');
        return [];
      }
      anyScopes = set.anyScopes;
    }
    for (const role of set.roles ?? []) {
      const claim = roleClaim(issuer, role);
      if (!claim) return [];
      claims.push({ name: claim.path.join('.'), valueType: 'StringArray', values: [claim.value] });
    }
    if (set.groups && !hasGroups(issuer)) return [];
    for (const group of set.groups ?? []) claims.push({ name: 'groups', valueType: 'StringArray', values: [group] });
    for (const [path, globs] of Object.entries(set.claims ?? {})) {
      const list = typeof globs === 'string' ? [globs] : globs;
      const glob = list.find((g) => simpleGlob(g)?.kind !== 'exact');
      if (glob !== undefined) {
        drop(`claims.${path}: glob ${JSON.stringify(glob)} (Envoy Gateway matches claims exactly): the alternative is left out`);
        return [];
      }
      claims.push({ name: path, valueType: 'String', values: [...list] });
    }
  }
  // anyScopes: one principal per scope, any of which allows.
  return (anyScopes ?? [undefined]).map((extra) => {
    const all = extra === undefined ? scopes : [...scopes, extra];
    return { provider: issuer.name, ...(all.length ? { scopes: all } : {}), ...(claims.length ? { claims } : {}) };
  });
}

function routeRules(plan: RoutePlan, providers: ReadonlySet<string>, drop: (what: string) => void): Doc[] {
  const operation = { methods: [...plan.methods], path: pathMatch(plan.route.path) };
  if (plan.route.public) return [{ name: objectName(plan.route.name), action: 'Allow', operation }];
  const principals = plan.issuers
    .filter((issuer) => providers.has(issuer.name))
    .flatMap((issuer) => plan.alternatives.flatMap((alternative) => principalsFor(issuer, alternative, drop)));
  return principals.map((jwt, i) => ({ name: objectName(plan.route.name, String(i)), action: 'Allow', operation, principal: { jwt } }));
}

export function envoyGatewayObjects(plan: ExportPlan, drop: (route: string, what: string) => void): Doc[] {
  const docs: Doc[] = [];
  for (const target of new Set(plan.routes.map((r) => r.target))) {
    const routes = plan.routes.filter((r) => r.target === target);
    const issuers = [...new Map(routes.flatMap((r) => r.issuers).map((i) => [i.name, i])).values()];
    const providers = new Set<string>();
    const jwtProviders = [];
    for (const issuer of issuers) {
      if (!issuer.jwksUri) {
        for (const route of routes.filter((r) => r.issuers.includes(issuer))) {
          drop(route.route.name, `issuer "${issuer.name}" has no jwksUri, which Envoy Gateway needs: its tokens are left out`);
        }
        continue;
      }
      providers.add(issuer.name);
      jwtProviders.push({
        name: issuer.name,
        issuer: issuer.issuer,
        audiences: [...issuer.audiences],
        remoteJWKS: { uri: issuer.jwksUri },
        // Bearer header only: Envoy would also read an `access_token` query parameter.
        extractFrom: { headers: [{ name: 'Authorization', valuePrefix: 'Bearer ' }] },
      });
    }
    const rules = routes.flatMap((route) => routeRules(route, providers, (what) => drop(route.route.name, what)));
    docs.push({
      apiVersion: 'gateway.envoyproxy.io/v1alpha1',
      kind: 'SecurityPolicy',
      metadata: { name: objectName('stepgate', target) },
      spec: {
        targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: target }],
        ...(jwtProviders.length
          ? { jwt: { providers: jwtProviders, ...(routes.some((r) => r.route.public) ? { optional: true } : {}) } }
          : {}),
        authorization: { defaultAction: 'Deny', ...(rules.length ? { rules } : {}) },
      },
    });
  }
  return docs;
}
