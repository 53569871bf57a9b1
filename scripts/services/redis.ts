/**
 * Redis: $REDIS_URL when set, else a private redis-server on a free port (installed from Debian
 * when missing). Never a shared 6379: a developer's own Redis is left alone. Tests that start a
 * Redis of their own (the Compose stack's, with its command line) get the redis-server binary in
 * `STEPGATE_TEST_REDIS_SERVER`; redis-cli is installed beside it.
 */
import { spawn } from 'node:child_process';
import type { Service } from './types.ts';
import { commandPath, ensureDebianPackages, freePort, reachable, waitFor } from './util.ts';

const REDIS_SERVER = '/usr/bin/redis-server';

export const redis: Service = {
  name: 'Redis',
  async start({ say }) {
    const given = process.env['REDIS_URL'];
    if (given) {
      const server = commandPath('redis-server');
      return {
        env: { STEPGATE_TEST_REDIS_URL: given, ...(server ? { STEPGATE_TEST_REDIS_SERVER: server } : {}) },
        note: `Redis at ${given}`,
      };
    }
    if (!ensureDebianPackages(REDIS_SERVER, ['redis-server'], say)) {
      return { missing: 'no redis-server (apt-get install redis-server)' };
    }
    const port = await freePort();
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    if (!(await waitFor(() => reachable(port), 10_000))) {
      child.kill();
      return { missing: `redis-server did not listen on 127.0.0.1:${port} within 10 s` };
    }
    return {
      env: { STEPGATE_TEST_REDIS_URL: `redis://127.0.0.1:${port}`, STEPGATE_TEST_REDIS_SERVER: REDIS_SERVER },
      note: `Redis started for this run on 127.0.0.1:${port}`,
      stop: () => void child.kill(),
    };
  },
};
