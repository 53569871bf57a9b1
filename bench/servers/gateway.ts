/**
 * stepgate as `stepgate serve` runs it (src/commands/serve.ts), on a config document the
 * orchestrator passes as JSON in argv[2]. Prints `{"url": …}` once listening. On SIGTERM it stops
 * gracefully, so `--cpu-prof` gets to write its profile.
 */
import { startGateway } from '../../src/commands/serve.ts';
import { parseConfig } from '../../src/config/load.ts';
import { enableProfiling } from './profiling.ts';

enableProfiling();

const document = process.argv[2];
if (!document) throw new TypeError('usage: gateway.ts CONFIG_JSON');

const gateway = await startGateway(parseConfig(JSON.parse(document), {}));
// The first JWKS fetch runs in the background; the orchestrator waits for keys itself.
process.stdout.write(
  `${JSON.stringify({ url: gateway.url, adminUrl: gateway.adminUrl })}\n`,
);
process.once('SIGTERM', () => {
  gateway.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
