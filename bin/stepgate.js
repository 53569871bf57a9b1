#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types). On an older Node, re-runs
// itself with the Node 24 that the `node` dependency installed, so `npx stepgate` works anywhere.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  const { main } = await import('../src/cli.ts');
  const code = await main(process.argv.slice(2));
  // -1: a server is running and owns the process from here on.
  if (code >= 0) process.exitCode = code;
} else {
  const require = createRequire(import.meta.url);
  const bundled = join(dirname(require.resolve('node/package.json')), 'bin', 'node');
  const child = spawn(bundled, [process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
