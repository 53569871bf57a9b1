/**
 * kubernetes-validate (PyPI): the Kubernetes API's JSON schemas for every release from 1.25 on,
 * in strict mode (unknown fields refused), for test/deploy/kubernetes.test.ts. Installed with the
 * machine's Python into the cache, with a launcher script the tests run.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from './types.ts';
import { buildCached, commandPath, runQuiet } from './util.ts';

const VERSION = '1.37.0';

export const kubernetesSchemas: Service = {
  name: 'Kubernetes schemas',
  usedBy: /\bkubernetesValidate\(/,
  async start({ cacheDir, say }) {
    const dir = join(cacheDir, `kubernetes-validate-${VERSION}`);
    const launcher = join(dir, 'kubernetes-validate');
    if (!existsSync(launcher)) {
      const shim = commandPath('python3');
      // The interpreter itself, not a version manager's shim, goes into the launcher.
      const python = shim && (await runQuiet(shim, ['-c', 'import sys; print(sys.executable)'])).output.trim();
      if (!python) return { missing: 'no python3 to install kubernetes-validate (PyPI)' };
      say(`▶ installing kubernetes-validate ${VERSION} from PyPI into ${dir}`);
      try {
        await buildCached(dir, async (tmp) => {
          const installed = await runQuiet(python, [
            '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location',
            '--target', tmp, `kubernetes-validate==${VERSION}`,
          ]);
          if (installed.code !== 0) throw new Error(installed.output.trim().split('\n').slice(-3).join(' / '));
          // The launcher names the final directory: it is used only after the rename.
          writeFileSync(join(tmp, 'kubernetes-validate'), `#!/bin/sh\nPYTHONPATH='${dir}' exec '${python}' -m kubernetes_validate "$@"\n`);
          chmodSync(join(tmp, 'kubernetes-validate'), 0o755);
        });
      } catch (err) {
        return { missing: `kubernetes-validate did not install: ${(err as Error).message}` };
      }
    }
    return { env: { STEPGATE_TEST_KUBERNETES_VALIDATE: launcher }, note: `kubernetes-validate ${VERSION} at ${dir}` };
  },
};
