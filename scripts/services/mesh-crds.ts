/**
 * The CRD schemas Istio and Envoy Gateway publish in their Go modules, for the export tests to
 * validate against: fetched through the Go module proxy (`go mod download`, into the Go module
 * cache), never copied into this repository.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from './types.ts';
import { commandPath } from './util.ts';

const MODULES = [
  {
    env: 'STEPGATE_TEST_ISTIO_CRDS',
    module: 'istio.io/api@v1.32.0',
    file: 'kubernetes/customresourcedefinitions.gen.yaml',
  },
  {
    env: 'STEPGATE_TEST_ENVOY_GATEWAY_CRDS',
    module: 'github.com/envoyproxy/gateway@v1.9.1',
    file: 'charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_securitypolicies.yaml',
  },
] as const;

/** `go mod download -json MODULE@VERSION` → the module's directory in the module cache. */
function moduleDir(module: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('go', ['mod', 'download', '-json', module], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', () => resolve(undefined));
    child.once('exit', (code) => {
      try {
        resolve(code === 0 ? (JSON.parse(out) as { Dir?: string }).Dir : undefined);
      } catch {
        resolve(undefined);
      }
    });
  });
}

export const meshCrds: Service = {
  name: 'Istio and Envoy Gateway CRDs',
  usedBy: /\bcrdFile\(/,
  async start() {
    if (!commandPath('go')) return { missing: 'no Go toolchain to fetch the CRDs from the Go module proxy (go)' };
    const env: Record<string, string> = {};
    for (const { env: name, module, file } of MODULES) {
      const dir = await moduleDir(module);
      const path = dir && join(dir, file);
      if (!path || !existsSync(path)) return { missing: `go mod download ${module} gave no ${file}` };
      env[name] = path;
    }
    return { env, note: `CRD schemas from ${MODULES.map((m) => m.module).join(', ')}` };
  },
};
