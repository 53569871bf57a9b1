/**
 * deploy/kubernetes/, checked without a cluster: `kustomize build` of the example overlay is valid
 * against the Kubernetes API schemas (strict: an unknown field is an error) of the oldest release
 * it needs (1.30, the `preStop.sleep` action) and the newest; the Deployment drains before it
 * stops, probes the admin listener the config binds, runs non-root on a read-only root file system,
 * and mounts every secret the config names; and the ConfigMap's gateway.yaml passes `stepgate check`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { stepgate } from '../support/run-cli.ts';
import { deployTools, kubernetesValidate } from '../support/services.ts';
import { ROOT } from '../support/stepgate-process.ts';

const OVERLAY = join(ROOT, 'deploy/kubernetes/overlays/example');

/* The parts of the API objects these tests read. */
interface Probe { httpGet: { path: string; port: string } }
interface Container {
  image: string;
  ports: { name: string; containerPort: number }[];
  env: { name: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[];
  volumeMounts: { name: string; mountPath: string }[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle: { preStop: { sleep: { seconds: number } } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: {
    readOnlyRootFilesystem: boolean;
    allowPrivilegeEscalation: boolean;
    capabilities: { drop: string[] };
  };
}
interface Resource {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec: Record<string, unknown>;
}
interface Deployment extends Resource {
  spec: {
    replicas: number;
    strategy: { rollingUpdate: { maxUnavailable: number } };
    template: {
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        containers: Container[];
        volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
      };
    };
  };
}
interface GatewayYaml {
  server: { shutdownGraceMs: number };
  admin: { host: string; port: number };
  assertion: { keys: { file: string }[] };
}

let built = '';
let resources: Resource[] = [];

before(() => {
  const tool = process.env['STEPGATE_TEST_DEPLOY_TOOLS'];
  if (!tool) return;
  const result = spawnSync(tool, ['kustomize', OVERLAY], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  built = result.stdout;
  resources = parseAllDocuments(built).map((doc) => doc.toJSON() as Resource);
});

const byKind = <T extends Resource>(kind: string) => resources.find((r) => r.kind === kind) as T;

function validate(launcher: string, file: string, version: string) {
  return spawnSync(launcher, ['--strict', '--quiet', '-k', version, file], { encoding: 'utf8' });
}

describe('deploy/kubernetes', () => {
  test('kustomize builds the overlay; the API schemas of 1.30 and 1.37 accept every object (strict)', async (t) => {
    if (!deployTools(t)) return;
    const launcher = kubernetesValidate(t);
    if (!launcher) return;
    assert.deepEqual(resources.map((r) => r.kind).sort(), [
      'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount',
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'stepgate-k8s-'));
    const file = join(dir, 'built.yaml');
    await writeFile(file, built);
    for (const version of ['1.30.0', '1.37.0']) {
      const result = validate(launcher, file, version);
      assert.equal(result.status, 0, `${version}: ${result.stdout}${result.stderr}`);
    }
    // Strict: a misspelt field is an error, not silently dropped by the API server.
    await writeFile(file, built.replace('readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true'));
    const refused = validate(launcher, file, '1.37.0');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stdout + refused.stderr, /readOnlyRootFileSystem/);
  });

  test('three replicas, drained before they stop: preStop, then shutdownGraceMs, within the grace period', (t) => {
    if (!deployTools(t)) return;
    const deployment = byKind<Deployment>('Deployment');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    const config = parse(byKind('ConfigMap').data!['gateway.yaml']!) as GatewayYaml;
    assert.equal(deployment.spec.replicas, 3);
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
    const drain = container!.lifecycle.preStop.sleep.seconds + config.server.shutdownGraceMs / 1000;
    assert.ok(pod.terminationGracePeriodSeconds > drain, `${pod.terminationGracePeriodSeconds} s > ${drain} s`);
    const hpa = byKind('HorizontalPodAutoscaler').spec as { minReplicas: number; scaleTargetRef: { name: string } };
    assert.equal(hpa.minReplicas, 3);
    assert.equal(hpa.scaleTargetRef.name, deployment.metadata.name);
    assert.equal((byKind('PodDisruptionBudget').spec as { maxUnavailable: number }).maxUnavailable, 1);
  });

  test('probes reach the admin listener the config binds; the NetworkPolicy admits only monitoring to it', (t) => {
    if (!deployTools(t)) return;
    const [container] = byKind<Deployment>('Deployment').spec.template.spec.containers;
    const config = parse(byKind('ConfigMap').data!['gateway.yaml']!) as GatewayYaml;
    assert.equal(config.admin.host, '0.0.0.0');
    const admin = container!.ports.find((p) => p.name === 'admin')!;
    assert.equal(admin.containerPort, config.admin.port);
    assert.deepEqual([container!.readinessProbe.httpGet, container!.livenessProbe.httpGet], [
      { path: '/readyz', port: 'admin' },
      { path: '/healthz', port: 'admin' },
    ]);
    const ingress = (byKind('NetworkPolicy').spec as { ingress: { from?: unknown[]; ports: { port: string }[] }[] }).ingress;
    const toAdmin = ingress.filter((rule) => rule.ports.some((p) => p.port === 'admin'));
    assert.deepEqual(toAdmin.map((rule) => rule.from), [[{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]]);
    assert.equal((byKind('Service').spec as { ports: { targetPort: string }[] }).ports[0]!.targetPort, 'http');
  });

  test('non-root, read-only root file system, no privilege, resources set', (t) => {
    if (!deployTools(t)) return;
    const pod = byKind<Deployment>('Deployment').spec.template.spec;
    const [container] = pod.containers;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.deepEqual(container!.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    assert.ok(container!.resources.requests['cpu'] && container!.resources.requests['memory'] && container!.resources.limits['memory']);
    assert.equal(container!.image, 'registry.example.com/platform/stepgate:0.1.0');
  });

  test('secrets by reference: cookie and client secrets from a Secret, assertion keys mounted where the config reads them', (t) => {
    if (!deployTools(t)) return;
    const pod = byKind<Deployment>('Deployment').spec.template.spec;
    const [container] = pod.containers;
    const refs = container!.env.filter((e) => e.valueFrom).map((e) => `${e.name}=${e.valueFrom!.secretKeyRef.name}/${e.valueFrom!.secretKeyRef.key}`);
    assert.ok(refs.includes('STEPGATE_COOKIE_SECRET=stepgate/cookie-secret'));
    assert.ok(refs.includes('STEPGATE_SSO_CLIENT_SECRET=stepgate/sso-client-secret'));
    const config = parse(byKind('ConfigMap').data!['gateway.yaml']!) as GatewayYaml;
    const keysVolume = pod.volumes.find((v) => v.secret?.secretName === 'stepgate-assertion-keys')!;
    const mount = container!.volumeMounts.find((m) => m.name === keysVolume.name)!;
    for (const key of config.assertion.keys) assert.ok(key.file.startsWith(`${mount.mountPath}/`), key.file);
    // The generated ConfigMap (its name carries a content hash) is the one mounted.
    const configVolume = pod.volumes.find((v) => v.configMap)!;
    assert.equal(configVolume.configMap!.name, byKind('ConfigMap').metadata.name);
    assert.ok(container!.volumeMounts.some((m) => m.name === configVolume.name && m.mountPath === '/etc/stepgate'));
  });

  test('stepgate check accepts the ConfigMap gateway.yaml (secrets given, key files where the Secret mounts them)', async (t) => {
    if (!deployTools(t)) return;
    const config = parse(byKind('ConfigMap').data!['gateway.yaml']!) as GatewayYaml;
    const mountDir = config.assertion.keys[0]!.file.replace(/\/[^/]+$/, '');
    const dir = await mkdtemp(join(tmpdir(), 'stepgate-k8s-keys-'));
    for (const key of config.assertion.keys) {
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
      await writeFile(key.file.replace(mountDir, dir), pem);
    }
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, byKind('ConfigMap').data!['gateway.yaml']!.replaceAll(mountDir, dir));
    const result = await stepgate(['check', '--config', file], {
      STEPGATE_COOKIE_SECRET: 'k8s-check-cookie-secret-0123456789abcdef',
      STEPGATE_SSO_CLIENT_SECRET: 'client-secret',
      STEPGATE_REDIS_URL: 'redis://redis:6379',
      STEPGATE_FINGERPRINT_KEY: 'fingerprint-key-0123456789',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '', 'no warning: the replicas share their assertion keys');
  });
});
