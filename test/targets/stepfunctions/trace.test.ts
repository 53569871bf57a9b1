import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceHeaderFor } from '../../../src/targets/stepfunctions/trace.ts';

describe('trace header', () => {
  const table: [Record<string, string>, string | undefined][] = [
    [
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
    ],
    [
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' },
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0',
    ],
    [
      { traceparent: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future' },
      'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
    ],
    [{ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, undefined],
    [{ traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, undefined],
    [{ traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01' }, undefined],
    [
      { 'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1' },
      'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1',
    ],
    [{ 'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Note=a b' }, undefined],
    [{ 'x-amzn-trace-id': 'Self=1-5759e988-bd862e3fe1be46a994272793' }, undefined],
    [{}, undefined],
  ];
  for (const [headers, expected] of table) {
    it(`${JSON.stringify(headers)} → ${expected}`, () => assert.equal(traceHeaderFor(headers), expected));
  }
  it('prefers traceparent over X-Amzn-Trace-Id', () => {
    assert.match(
      traceHeaderFor({
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a994272793',
      })!,
      /^Root=1-4bf92f35/,
    );
  });
});
