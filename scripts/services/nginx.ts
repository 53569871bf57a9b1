/**
 * nginx from Debian, for the decision-mode tests (`auth_request` in front of an upstream). Each
 * test runs its own nginx as a child process with a generated config; this only finds the binary
 * and checks it has the auth_request module.
 */
import { spawnSync } from 'node:child_process';
import type { Service } from './types.ts';
import { ensureDebianPackages } from './util.ts';

const NGINX = '/usr/sbin/nginx';

export const nginx: Service = {
  name: 'nginx',
  async start({ say }) {
    const path = process.env['NGINX_PATH'] ?? NGINX;
    if (!ensureDebianPackages(path, ['nginx'], say)) return { missing: `no nginx: ${path} is missing (apt-get install nginx)` };
    const version = spawnSync(path, ['-V'], { encoding: 'utf8' });
    if (!`${version.stdout}${version.stderr}`.includes('--with-http_auth_request_module')) {
      return { missing: `${path} was built without the auth_request module` };
    }
    const name = /nginx version: (\S+)/.exec(version.stderr)?.[1] ?? 'nginx';
    return { env: { STEPGATE_TEST_NGINX: path }, note: `${name} at ${path}` };
  },
};
