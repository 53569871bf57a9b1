/**
 * A clock a test moves forward instead of sleeping: the real time plus whatever `advance` added.
 * Give `now` to the gateway (`GatewayDeps.now`); tokens signed meanwhile still carry the real
 * time, so advancing past a token's `exp` expires it for the gateway alone.
 */
export interface TestClock {
  /** Milliseconds since the epoch, as the gateway sees them. */
  readonly now: () => number;
  /** Moves the clock on by `ms`. */
  advance(ms: number): void;
}

export function testClock(): TestClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}
