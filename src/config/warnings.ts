/**
 * What a valid config may still get wrong in production: `stepgate check` prints these and
 * `stepgate serve` logs them at start. Pure; each names its key path.
 */
import type { ConfigProblem } from '../errors.ts';
import type { Config } from './schema.ts';

export function configWarnings(config: Config): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  if (!config.assertion.keys) {
    warnings.push({
      path: 'assertion.keys',
      message:
        'not set: this process signs X-Stepgate-Assertion with a key it generates at start, so replicas ' +
        '(and restarts) publish different keys and an upstream\'s cached JWKS rejects the others\' assertions; ' +
        'give every replica the same keys',
    });
  }
  return warnings;
}
