/**
 * Small helpers the service starters share: free ports, waiting for a port, Debian packages,
 * quiet commands and atomic cache entries.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function reachable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Polls until `check` is true or `timeoutMs` passes. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return false;
}

export function commandPath(name: string): string | undefined {
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

let aptUpdated = false;

/**
 * Installs Debian packages when `binary` is missing and we run as root with apt-get (as CI and
 * a fresh machine do); returns whether `binary` exists afterwards.
 */
export function ensureDebianPackages(binary: string, packages: string[], say: (line: string) => void): boolean {
  if (existsSync(binary)) return true;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return false;
  say(`▶ installing ${packages.join(', ')} (Debian) for the tests`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    aptUpdated = true;
  }
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
  return existsSync(binary);
}

/** Runs a command to its end without blocking the event loop; the last 20 kB of output are kept for errors. */
export function runQuiet(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (err) => resolve({ code: 1, output: String(err) }));
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * Builds into the cache atomically: `build(tmp)` fills a fresh temporary directory beside
 * `final`, which is then renamed into place. Another run building the same entry at the same
 * time is harmless: whichever rename comes second finds `final` there and drops its own copy.
 */
export async function buildCached(final: string, build: (tmp: string) => Promise<void>): Promise<void> {
  if (existsSync(final)) return;
  mkdirSync(dirname(final), { recursive: true });
  const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(tmp);
    await build(tmp);
    try {
      renameSync(tmp, final);
    } catch (err) {
      if (!existsSync(final)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
