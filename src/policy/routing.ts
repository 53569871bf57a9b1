/** Routes and their policies compiled once per config, swapped whole on reload. */
import type { Config, RouteConfig } from '../config/schema.ts';
import { compilePolicy } from './evaluate.ts';
import { type ExecutionsRoute, executionsRoute } from './execution-routes.ts';
import { compileRoutes, type RouteTable } from './routes.ts';
import type { Decision, Subject } from './types.ts';
import { policyVersion } from './version.ts';

export interface CompiledRouting {
  readonly table: RouteTable;
  readonly policies: readonly ((subject: Subject) => Decision)[];
  /** Per route, its `readAnyExecution` conditions compiled like an `allow`; none without them. */
  readonly readAny: readonly (((subject: Subject) => Decision) | undefined)[];
  /** sha256 of the routes and policies that decide (`policyVersion` in the audit record). */
  readonly version: string;
  /** The route the gateway adds to read executions (execution-routes.ts), after the configured ones. */
  readonly executions: ExecutionsRoute | undefined;
}

/** The first of `policies` that allows, else the first one's denial. */
function anyOf(policies: readonly ((subject: Subject) => Decision)[]): (subject: Subject) => Decision {
  return (subject) => {
    let denied: Decision | undefined;
    for (const policy of policies) {
      const decision = policy(subject);
      if (decision.allow) return decision;
      denied ??= decision;
    }
    return denied!;
  };
}

/**
 * Compiles the configured routes, and with `targets` the executions route the gateway adds. The
 * policy version covers the configured routes: the added one follows from them.
 */
export function compileRouting(routes: readonly RouteConfig[], targets: Config['targets'] = {}): CompiledRouting {
  const configured = compileRoutes(routes);
  const policies = routes.map((route) => compilePolicy(route));
  const executions = executionsRoute(routes, targets, configured);
  if (executions) policies.push(anyOf(executions.allowedBy.map((i) => policies[i]!)));
  const readAny = routes.map((route) =>
    route.readAnyExecution ? compilePolicy({ ...route, public: false, allow: route.readAnyExecution }) : undefined,
  );
  return Object.freeze({
    table: executions ? compileRoutes([...routes, executions.route]) : configured,
    policies: Object.freeze(policies),
    readAny: Object.freeze(readAny),
    version: policyVersion(routes),
    executions,
  });
}
