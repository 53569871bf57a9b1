/**
 * docker-compose.yml, checked without a Docker engine: compose-go, the loader the Compose CLI
 * uses for `docker compose config`, accepts it (the Compose specification's schema, references
 * between services) and refuses broken variants; every service has a health check and the gateway
 * starts only once all it depends on is healthy; and the gateway's config passes `stepgate check`
 * with exactly the environment Compose gives it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { stepgate } from '../support/run-cli.ts';
import { deployTools } from '../support/services.ts';
import { ROOT } from '../support/stepgate-process.ts';

const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  network_mode?: string;
  networks?: Record<string, { aliases?: string[] } | null>;
  ports?: { target: number; published: string; host_ip: string }[];
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  read_only?: boolean;
}

/** `docker compose config` of `file`, as JSON; or the loader's refusal. */
interface Loaded {
  status: number | null;
  project?: { services: Record<string, Service> };
  stderr: string;
}

function composeConfig(tool: string, file: string): Loaded {
  // No inherited COMPOSE_* or other variables: the file alone decides.
  const result = spawnSync(tool, ['compose', file], { encoding: 'utf8', env: { PATH: process.env['PATH'] } });
  const project = result.status === 0 ? { project: JSON.parse(result.stdout) as Loaded['project'] } : {};
  return { status: result.status, stderr: result.stderr, ...project };
}

let services: Record<string, Service> = {};
let tool: string | undefined;

before(() => {
  tool = process.env['STEPGATE_TEST_DEPLOY_TOOLS'];
  if (!tool) return;
  const loaded = composeConfig(tool, COMPOSE_FILE);
  assert.equal(loaded.status, 0, loaded.stderr);
  services = loaded.project!.services;
});

describe('docker-compose.yml', () => {
  test('the Compose loader accepts it, and refuses an unknown key and a dangling reference', async (t) => {
    if (!deployTools(t)) return;
    assert.deepEqual(Object.keys(services).sort(), ['keycloak', 'redis', 'stepfunctions', 'stepgate', 'upstream']);
    const dir = await mkdtemp(join(tmpdir(), 'stepgate-compose-'));
    const typo = join(dir, 'typo.yml');
    writeFileSync(typo, readFileSync(COMPOSE_FILE, 'utf8').replace('    healthcheck:\n      test: ["CMD", "redis-cli", "ping"]', '    healthchek:\n      test: ["CMD", "redis-cli", "ping"]'));
    const refused = composeConfig(tool!, typo);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /healthchek/);
    const dangling = join(dir, 'dangling.yml');
    writeFileSync(dangling, readFileSync(COMPOSE_FILE, 'utf8').replace('      redis:\n        condition: service_healthy', '      rediss:\n        condition: service_healthy'));
    const refusedToo = composeConfig(tool!, dangling);
    assert.notEqual(refusedToo.status, 0);
    assert.match(refusedToo.stderr, /rediss/);
  });

  test('every service has a health check; the gateway waits for all of them to be healthy', (t) => {
    if (!deployTools(t)) return;
    for (const [name, service] of Object.entries(services)) assert.ok(service.healthcheck?.test.length, `${name}: healthcheck`);
    const gateway = services['stepgate']!;
    assert.deepEqual(
      Object.entries(gateway.depends_on ?? {}).map(([name, dependency]) => `${name}:${dependency.condition}`).sort(),
      ['keycloak:service_healthy', 'redis:service_healthy', 'stepfunctions:service_healthy', 'upstream:service_healthy'],
    );
    assert.deepEqual(gateway.healthcheck!.test, ['CMD', 'node', '/app/bin/stepgate.js', 'health']);
  });

  test('Keycloak imports the realm from deploy/keycloak; the gateway shares its network namespace and URL', (t) => {
    if (!deployTools(t)) return;
    const keycloak = services['keycloak']!;
    assert.match(keycloak.image!, /^quay\.io\/keycloak\/keycloak:/);
    assert.deepEqual(keycloak.command!.slice(0, 2), ['start-dev', '--import-realm']);
    assert.ok(keycloak.volumes!.some((v) => v.source === join(ROOT, 'deploy/keycloak') && v.target === '/opt/keycloak/data/import' && v.read_only));
    const gateway = services['stepgate']!;
    assert.equal(gateway.network_mode, 'service:keycloak');
    // The realm's back-channel logout URL names the gateway `stepgate`: that name leads here.
    assert.deepEqual(keycloak.networks!['default']!.aliases, ['stepgate']);
    // The issuer, the public URL and the published ports agree.
    const port = Number(/--http-port=(\d+)/.exec(keycloak.command!.join(' '))![1]);
    assert.equal(gateway.environment!['STEPGATE_ISSUER'], `http://localhost:${port}/realms/platform`);
    assert.equal(keycloak.environment!['KC_HOSTNAME'], `http://localhost:${port}`);
    const published = keycloak.ports!.map((p) => `${p.host_ip}:${p.published}:${p.target}`).sort();
    assert.deepEqual(published, ['127.0.0.1:8080:8080', `127.0.0.1:${port}:${port}`, '127.0.0.1:9090:9090'].sort());
    assert.ok(gateway.volumes!.some((v) => v.source === join(ROOT, 'deploy/compose/gateway.yaml') && v.target === '/etc/stepgate/gateway.yaml'));
  });

  test('the demo upstream and Step Functions run from the same image where the gateway expects them', (t) => {
    if (!deployTools(t)) return;
    const env = services['stepgate']!.environment!;
    for (const [name, variable] of [['upstream', 'STEPGATE_UPSTREAM_URL'], ['stepfunctions', 'STEPGATE_SFN_ENDPOINT']] as const) {
      const service = services[name]!;
      assert.equal(service.image, services['stepgate']!.image);
      assert.ok(service.read_only);
      const port = service.command![service.command!.indexOf('--port') + 1];
      assert.deepEqual(service.command!.slice(0, 2), ['dev', name]);
      assert.equal(env[variable], `http://${name}:${port}`);
    }
  });

  test('stepgate check accepts deploy/compose/gateway.yaml with the environment Compose gives the gateway', async (t) => {
    if (!deployTools(t)) return;
    const result = await stepgate(['check', '--config', 'deploy/compose/gateway.yaml'], services['stepgate']!.environment!);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'deploy/compose/gateway.yaml: valid\n');
  });
});
