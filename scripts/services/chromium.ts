/** Chromium from Debian for the browser tests (no test tool may download a browser). */
import type { Service } from './types.ts';
import { ensureDebianPackages } from './util.ts';

export const chromium: Service = {
  name: 'Chromium',
  async start({ say }) {
    const path = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
    if (!ensureDebianPackages(path, ['chromium'], say)) {
      return { missing: `no Chromium: ${path} is missing (apt-get install chromium)` };
    }
    return { env: { STEPGATE_TEST_CHROMIUM: path }, note: `Chromium at ${path}` };
  },
};
