/**
 * `stepgate export istio`: per HTTP target, a RequestAuthentication (the target's issuers, their
 * JWKS and audiences, the token read only from `Authorization: Bearer` and not forwarded), one
 * ALLOW AuthorizationPolicy per route (requestPrincipals per issuer, methods, paths, `when` on
 * `request.auth.claims[...]`) and an explicit allow-nothing policy, so the workload denies by
 * default even if a route's policy is removed. The workload is the one labelled `app: <target>`.
 * Reference: security.istio.io/v1 (istio.io/api security/v1beta1/*.proto).
 */
import type { IssuerConfig } from '../config/schema.ts';
import { type Alternative, type ExportPlan, hasGroups, roleClaim, type RoutePlan, scopeClaim, simpleGlob } from './plan.ts';

type Doc = Record<string, unknown>;
interface When {
  key: string;
  values: string[];
}

/** A Kubernetes object name: lowercase letters, digits, "-" and "." (DNS-1123 subdomain). */
export const objectName = (...parts: string[]): string =>
  parts.join('-').toLowerCase().replace(/[^a-z0-9.-]/g, '-').slice(0, 253);

const claimKey = (path: readonly string[]) => `request.auth.claims${path.map((p) => `[${p}]`).join('')}`;

/** Istio paths for a stepgate route path: exact, prefix (`/a/*` is also `/a`), `{*}` templates. */
export function istioPaths(path: string): string[] {
  if (path === '/*') return ['/*'];
  const rest = path.endsWith('/*');
  const base = (rest ? path.slice(0, -2) : path).replace(/\/:[^/]+/g, '/{*}');
  if (!rest) return [base];
  return base.includes('{*}') ? [base, `${base}/{**}`] : [base, `${base}/*`];
}

/** The `when` conditions of one alternative for one issuer; `undefined` if it can never hold there. */
function whenFor(issuer: IssuerConfig, alternative: Alternative, drop: (what: string) => void): When[] | undefined {
  const when: When[] = [];
  for (const set of alternative) {
    const scope = scopeClaim(issuer);
    if ((set.scopes || set.anyScopes) && !scope) return undefined;
    for (const s of set.scopes ?? []) when.push({ key: claimKey([scope!]), values: [s] });
    if (set.anyScopes) when.push({ key: claimKey([scope!]), values: [...set.anyScopes] });
    for (const role of set.roles ?? []) {
      const claim = roleClaim(issuer, role);
      if (!claim) return undefined;
      when.push({ key: claimKey(claim.path), values: [claim.value] });
    }
    if (set.groups && !hasGroups(issuer)) return undefined;
    for (const group of set.groups ?? []) when.push({ key: claimKey(['groups']), values: [group] });
    for (const [path, globs] of Object.entries(set.claims ?? {})) {
      const list = typeof globs === 'string' ? [globs] : globs;
      const odd = list.find((glob) => !simpleGlob(glob));
      if (odd !== undefined || /[[\]]/.test(path)) {
        drop(`claims.${path}: ${odd === undefined ? 'a claim name with "[" or "]"' : `glob ${JSON.stringify(odd)} has a "*" inside`}: the alternative is left out`);
        return undefined;
      }
      when.push({ key: claimKey(path.split('.')), values: [...list] });
    }
  }
  return when;
}

function routePolicy(plan: RoutePlan, drop: (what: string) => void): Doc {
  const to = [{ operation: { methods: [...plan.methods], paths: istioPaths(plan.route.path) } }];
  const rules: Doc[] = [];
  if (plan.route.public) rules.push({ to });
  for (const issuer of plan.issuers) {
    for (const alternative of plan.alternatives) {
      const when = whenFor(issuer, alternative, drop);
      if (when) rules.push({ from: [{ source: { requestPrincipals: [`${issuer.issuer}/*`] } }], to, ...(when.length ? { when } : {}) });
    }
  }
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: objectName('stepgate', plan.target, plan.route.name) },
    // No rule (nothing expressible) allows nothing: the route is refused, never opened.
    spec: { selector: { matchLabels: { app: plan.target } }, action: 'ALLOW', rules },
  };
}

export function istioObjects(plan: ExportPlan, drop: (route: string, what: string) => void): Doc[] {
  const docs: Doc[] = [];
  const targets = [...new Set(plan.routes.map((r) => r.target))];
  for (const target of targets) {
    const routes = plan.routes.filter((r) => r.target === target);
    const issuers = [...new Map(routes.flatMap((r) => r.issuers).map((i) => [i.name, i])).values()];
    const selector = { matchLabels: { app: target } };
    if (issuers.length > 0) {
      docs.push({
        apiVersion: 'security.istio.io/v1',
        kind: 'RequestAuthentication',
        metadata: { name: objectName('stepgate', target) },
        spec: {
          selector,
          jwtRules: issuers.map((issuer) => ({
            issuer: issuer.issuer,
            ...(issuer.jwksUri ? { jwksUri: issuer.jwksUri } : {}),
            audiences: [...issuer.audiences],
            // Bearer header only: Istio would also read an `access_token` query parameter.
            fromHeaders: [{ name: 'Authorization', prefix: 'Bearer ' }],
            forwardOriginalToken: false,
          })),
        },
      });
    }
    docs.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: objectName('stepgate', target, 'allow-nothing') },
      spec: { selector },
    });
    for (const route of routes) docs.push(routePolicy(route, (what) => drop(route.route.name, what)));
  }
  return docs;
}
