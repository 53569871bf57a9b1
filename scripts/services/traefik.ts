/**
 * Traefik, built from its Go module (github.com/traefik/traefik/v3, `cmd/traefik`) with the
 * machine's Go, for the decision-mode tests (`forwardAuth` in front of an upstream). Built once
 * into the cache (`traefik-<version>/traefik`, written under a temporary name and renamed, since
 * other runs share the cache); a cold build fetches a few hundred modules and compiles for
 * several minutes on two cores, later runs take the cached binary.
 *
 * The version is the newest whose whole dependency graph the Go module proxy serves here
 * (v3.7.x needs modules it refuses).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from './types.ts';
import { commandPath } from './util.ts';

const VERSION = 'v3.6.12';
const MODULE = 'github.com/traefik/traefik/v3';

/** Runs `go` without blocking: the other services start (and poll) meanwhile. */
function goOutput(args: string[], cwd?: string): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('go', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', (err) => resolve({ ok: false, out: String(err) }));
    child.once('exit', (code) => resolve({ ok: code === 0, out }));
  });
}

export const traefik: Service = {
  name: 'Traefik',
  usedBy: /\btraefikPath\(/,
  async start({ cacheDir, say }) {
    const given = process.env['TRAEFIK_PATH'];
    if (given) return { env: { STEPGATE_TEST_TRAEFIK: given }, note: `Traefik at ${given}` };
    const dir = join(cacheDir, `traefik-${VERSION}`);
    const binary = join(dir, 'traefik');
    if (existsSync(binary)) return { env: { STEPGATE_TEST_TRAEFIK: binary }, note: `Traefik ${VERSION} at ${binary}` };
    if (!commandPath('go')) return { missing: 'no Go toolchain to build Traefik from its module (go)' };
    say(`▶ building Traefik ${VERSION} from the Go module proxy (once; several minutes)`);
    const started = Date.now();
    const download = await goOutput(['mod', 'download', '-json', `${MODULE}@${VERSION}`]);
    const moduleDir = download.ok ? (JSON.parse(download.out) as { Dir?: string }).Dir : undefined;
    if (!moduleDir) return { missing: `go mod download ${MODULE}@${VERSION} failed: ${download.out.slice(-500)}` };
    mkdirSync(dir, { recursive: true });
    const temporary = `${binary}.${process.pid}.tmp`;
    // The module's own go.mod and go.sum pin every dependency; the module cache is read-only.
    const build = await goOutput(['build', '-trimpath', '-ldflags=-s -w', '-o', temporary, './cmd/traefik'], moduleDir);
    if (!build.ok) {
      rmSync(temporary, { force: true });
      return { missing: `building Traefik failed: ${build.out.slice(-800)}` };
    }
    renameSync(temporary, binary);
    const seconds = Math.round((Date.now() - started) / 1000);
    return { env: { STEPGATE_TEST_TRAEFIK: binary }, note: `Traefik ${VERSION} built in ${seconds} s at ${binary}` };
  },
};
