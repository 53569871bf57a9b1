/**
 * One registry of targets by name, built once per config. The switch is exhaustive: a new target
 * kind does not compile until it is handled here.
 */
import type { Config, TargetConfig } from '../config/schema.ts';
import { createHttpTarget, type Target, type TargetDeps } from './http.ts';

export type { Target, TargetDeps } from './http.ts';

function createTarget(name: string, config: TargetConfig, deps: TargetDeps): Target {
  switch (config.type) {
    case 'http':
      return createHttpTarget(name, config, deps);
    case 'stepfunctions':
      // Refused by the config cross-check until the Step Functions target lands.
      throw new Error(`target ${name}: stepfunctions targets are not available yet`);
    default: {
      const unknown: never = config;
      throw new Error(`target ${name}: unknown type ${String((unknown as { type: string }).type)}`);
    }
  }
}

export function createTargets(targets: Config['targets'], deps: TargetDeps): ReadonlyMap<string, Target> {
  return new Map(Object.entries(targets).map(([name, config]) => [name, createTarget(name, config, deps)]));
}
