/**
 * One registry of targets by name, built once per config. The switch is exhaustive: a new target
 * kind does not compile until it is handled here.
 */
import type { Config, TargetConfig } from '../config/schema.ts';
import { createArgoTarget } from './argo/target.ts';
import type { RecentExecution } from './execution/call.ts';
import { createHttpTarget, type TargetDeps } from './http.ts';
import type { Target } from './target.ts';
import { createExecutionsReader } from './stepfunctions/executions-reader.ts';
import {
  createStepFunctionsTarget,
  type StepFunctionsDeps,
  type StepFunctionsTarget,
} from './stepfunctions/target.ts';

export type { TargetDeps } from './http.ts';
export type { Target } from './target.ts';
export type { StepFunctionsDeps } from './stepfunctions/target.ts';

/** What execution targets (Step Functions, Argo) need beyond an HTTP target's. */
export type RegistryDeps = TargetDeps & { readonly executions: Omit<StepFunctionsDeps, 'metrics'> };

function createTarget(name: string, config: TargetConfig, deps: RegistryDeps): Target {
  switch (config.type) {
    case 'http':
      return createHttpTarget(name, config, deps);
    case 'stepfunctions':
      return createStepFunctionsTarget(name, config, { ...deps.executions, metrics: deps.metrics });
    case 'argo':
      return createArgoTarget(name, config, { ...deps.executions, metrics: deps.metrics });
    default: {
      const unknown: never = config;
      throw new Error(`target ${name}: unknown type ${String((unknown as { type: string }).type)}`);
    }
  }
}

/**
 * The configured targets by name, and the reader of `/executions/{arn}` when the routing adds
 * that route (`executions.executionsRoute`: policy/execution-routes.ts), under the route's name.
 */
export function createTargets(targets: Config['targets'], deps: RegistryDeps): ReadonlyMap<string, Target> {
  const built = new Map<string, Target>(
    Object.entries(targets).map(([name, config]) => [name, createTarget(name, config, deps)]),
  );
  const route = deps.executions.executionsRoute;
  if (route) {
    const served = route.targets.map((name) => built.get(name) as StepFunctionsTarget);
    built.set(route.route.target, createExecutionsReader(served));
  }
  return built;
}

type ListingTarget = Target & {
  recentExecutions(caller: string, limit: number): Promise<RecentExecution[]>;
};

/**
 * The recent executions of a caller (`<issuer>/<sub>`) across every Step Functions and Argo
 * target, newest first: what `/.stepgate/` lists. A target that cannot be listed is left out.
 */
export function createExecutionsSource(targets: ReadonlyMap<string, Target>) {
  const listing = [...targets.values()].filter((t): t is ListingTarget => 'recentExecutions' in t);
  return {
    async recentExecutions(caller: string, limit: number) {
      const lists = await Promise.all(listing.map((t) => t.recentExecutions(caller, limit).catch(() => [])));
      return lists
        .flat()
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime())
        .slice(0, limit);
    },
  };
}
