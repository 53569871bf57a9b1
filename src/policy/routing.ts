/** Routes and their policies compiled once per config, swapped whole on reload. */
import type { RouteConfig } from '../config/schema.ts';
import { compilePolicy } from './evaluate.ts';
import { compileRoutes, type RouteTable } from './routes.ts';
import type { Decision, Subject } from './types.ts';
import { policyVersion } from './version.ts';

export interface CompiledRouting {
  readonly table: RouteTable;
  readonly policies: readonly ((subject: Subject) => Decision)[];
  /** sha256 of the routes and policies that decide (`policyVersion` in the audit record). */
  readonly version: string;
}

export function compileRouting(routes: readonly RouteConfig[]): CompiledRouting {
  return Object.freeze({
    table: compileRoutes(routes),
    policies: Object.freeze(routes.map((route) => compilePolicy(route))),
    version: policyVersion(routes),
  });
}
