/**
 * `npm test`: type-check, lint, then every test under test/ with Node's test runner.
 * Runs on the Node 24 that the `node` dependency brings (npm puts node_modules/.bin first on PATH).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

function run(label: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  process.stdout.write(`\n▶ ${label}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    process.stdout.write(`✖ ${label} failed\n`);
    process.exit(result.status ?? 1);
  }
}

function findTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'support' ? [] : findTests(path);
      return entry.name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `stepgate needs Node >= 22.18, this is ${process.version}; run it through npm (npm test)\n`,
  );
  process.exit(1);
}

const only = process.argv.slice(2);
if (only.length === 0) {
  run('typecheck (tsc)', bin('tsc'), ['-p', 'tsconfig.json']);
  run('lint (biome)', bin('biome'), ['check', '.']);
}
const files = only.length > 0 ? only : findTests(join(root, 'test')).map((f) => relative(root, f));
run(`tests (${files.length} files)`, process.execPath, ['--test', '--test-reporter=spec', ...files], {
  ...process.env,
  STEPGATE_TEST: '1',
});
