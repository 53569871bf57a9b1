/**
 * stepgate-deploy-tools (./deploy-tools/main.go): compose-go, BuildKit's Dockerfile linter, the
 * .dockerignore matcher and kustomize, for test/deploy/. Built with the machine's Go from the Go
 * module proxy (versions pinned by go.sum) into the cache, keyed by a hash of its sources; a cold
 * build takes a few minutes, later runs reuse it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from './types.ts';
import { buildCached, commandPath, runQuiet } from './util.ts';

const SOURCES = ['go.mod', 'go.sum', 'main.go'];

export const deployTools: Service = {
  name: 'deploy tools',
  usedBy: /\bdeployTools\(/,
  async start({ root, cacheDir, say }) {
    const source = join(root, 'scripts', 'services', 'deploy-tools');
    const hash = createHash('sha256');
    for (const file of SOURCES) hash.update(readFileSync(join(source, file)));
    const dir = join(cacheDir, 'deploy-tools', hash.digest('hex').slice(0, 16));
    const binary = join(dir, 'stepgate-deploy-tools');
    if (!existsSync(binary)) {
      const go = commandPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
      if (!go) return { missing: 'no Go toolchain to build stepgate-deploy-tools (compose-go, BuildKit, kustomize)' };
      say(`▶ building stepgate-deploy-tools from the Go module proxy into ${dir} (minutes the first time)`);
      try {
        await buildCached(dir, async (tmp) => {
          const built = await runQuiet(go, ['build', '-trimpath', '-o', join(tmp, 'stepgate-deploy-tools'), '.'], {
            cwd: source,
            // The machine's Go, never a downloaded toolchain; go.sum decides every module version.
            env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' },
          });
          if (built.code !== 0) throw new Error(built.output.trim().split('\n').slice(-5).join(' / '));
        });
      } catch (err) {
        return { missing: `stepgate-deploy-tools did not build: ${(err as Error).message}` };
      }
    }
    return { env: { STEPGATE_TEST_DEPLOY_TOOLS: binary }, note: `deploy tools at ${binary}` };
  },
};
