/**
 * Path normalization as properties (fast-check, fixed seed; a failure prints the seed and the
 * shrunk target): the canonical path is a fixed point, and wherever stepgate accepts a request
 * target, WHATWG's URL parser — an independent implementation — resolves it to the same path.
 *
 * Deliberate differences, applied to the WHATWG side before comparing:
 * - Repeated slashes are merged before dot segments are resolved (WHATWG keeps empty segments,
 *   so `/a//b/..` is `/a//` there and `/a/` here): the input given to WHATWG has them merged.
 * - RFC 3986 §6.2.2 normalization, which WHATWG does not do: escapes of unreserved characters
 *   decoded (`%41` → `A`), the hex of other escapes uppercased, and characters a path may not
 *   hold raw (`[`, `|`, `^`, …, which WHATWG leaves) percent-encoded.
 * - Refusals: stepgate refuses what servers disagree on (encoded `/`, `\`, `;`, controls, invalid
 *   UTF-8, climbing above `/`), which WHATWG resolves; only accepted targets are compared.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isGatewayError } from '../../src/errors.ts';
import { isCanonical, normalizeRequestTarget } from '../../src/policy/normalize-path.ts';
import { requestTarget, SEED, whatwgPath } from '../support/paths.ts';

function accepted(target: string): string | undefined {
  try {
    return normalizeRequestTarget(target).path;
  } catch (err) {
    assert.ok(isGatewayError(err) && err.code === 'SG_ERR_BAD_PATH', `only SG_ERR_BAD_PATH is thrown: ${String(err)}`);
    return undefined;
  }
}

describe('path normalization, as properties', () => {
  it('the canonical path is a fixed point and is canonical', () => {
    fc.assert(
      fc.property(requestTarget, (target) => {
        const path = accepted(target);
        if (path === undefined) return;
        assert.equal(normalizeRequestTarget(path).path, path);
        assert.equal(isCanonical(path), true);
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });

  it('agrees with WHATWG URL on every target it accepts', () => {
    fc.assert(
      fc.property(requestTarget, (target) => {
        const path = accepted(target);
        if (path !== undefined) assert.equal(path, whatwgPath(target), `target ${JSON.stringify(target)}`);
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });

  it('accepts a good share of what it is given (the generator is not vacuous)', () => {
    const sample = fc.sample(requestTarget, { seed: SEED, numRuns: 2000 });
    const share = sample.filter((t) => accepted(t) !== undefined).length / sample.length;
    assert.ok(share > 0.2, `only ${share} accepted`);
  });
});
