/**
 * The environment that moves `stepgate demo` (config/demo.yaml) onto free ports, a fresh audit
 * file and a fresh Argo token file, so its tests pass while `npm start` runs the demo on its
 * default ports and nothing meets another run. Every
 * `${STEPGATE_DEMO_…_PORT}` the config reads gets a port: a port added there cannot be forgotten here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CONFIG_FILE } from '../../src/dev/demo.ts';
import { freePort } from './sso.ts';

export async function demoEnv(dir: string): Promise<Record<string, string>> {
  const text = readFileSync(DEMO_CONFIG_FILE, 'utf8');
  const names = [...new Set([...text.matchAll(/\$\{(STEPGATE_DEMO_[A-Z_]*PORT)\b/g)].map((m) => m[1]!))];
  const ports = await Promise.all(names.map(() => freePort()));
  return {
    ...Object.fromEntries(names.map((name, i) => [name, String(ports[i])])),
    STEPGATE_DEMO_AUDIT_FILE: join(dir, 'audit.jsonl'),
    STEPGATE_DEMO_ARGO_TOKEN_FILE: join(dir, 'argo-token'),
  };
}
