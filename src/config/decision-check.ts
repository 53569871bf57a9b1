/** Checks of the `decision` section that span keys (the schema checks each key alone). */
import type { ConfigProblem } from '../errors.ts';
import { isCidr } from './cross-check.ts';
import type { DecisionConfig } from './schema.ts';

export function decisionProblems(decision: DecisionConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  decision.trustedPeers.forEach((cidr, i) => {
    if (!isCidr(cidr)) problems.push({ path: `decision.trustedPeers[${i}]`, message: 'must be an IP address or CIDR' });
  });
  const { envoy, nginx, traefik } = decision;
  if (!envoy && !nginx && !traefik) {
    problems.push({ path: 'decision', message: 'must enable at least one of envoy, nginx, traefik' });
  }
  // Each check request must reach exactly one protocol: no path equal to another, none under Envoy's prefix.
  const paths: [string, string][] = [];
  if (nginx) paths.push(['decision.nginx.path', nginx.path]);
  if (traefik) paths.push(['decision.traefik.path', traefik.path]);
  if (nginx && traefik && nginx.path === traefik.path) {
    problems.push({ path: 'decision.traefik.path', message: 'must differ from decision.nginx.path' });
  }
  for (const [key, path] of paths) {
    if (envoy && (path === envoy.pathPrefix || path.startsWith(`${envoy.pathPrefix}/`))) {
      problems.push({ path: key, message: `must not lie under decision.envoy.pathPrefix "${envoy.pathPrefix}"` });
    }
  }
  return problems;
}
