/**
 * Services some tests need beyond the project's own: Redis, Chromium, Keycloak, nginx, Traefik,
 * the CRD schemas and the deploy tools. `npm test`
 * (scripts/test.ts) finds or starts them and passes their addresses in the environment. Without
 * them a developer's run skips just those tests, saying what and why; in CI (`CI=true`) a
 * missing service fails the run instead, so nothing is skipped there.
 */
import type { TestContext } from 'node:test';

function requireService(t: TestContext, env: string, what: string): string | undefined {
  const value = process.env[env];
  if (value) return value;
  const why = `${what} is not available (${env} is unset; npm test sets it when it finds one)`;
  if (process.env['CI'] === 'true') throw new Error(`${why}; in CI nothing may be skipped`);
  t.skip(why);
  return undefined;
}

/** A Redis URL for tests, or skips the test (outside CI). Tests use their own key prefix. */
export function redisUrl(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_REDIS_URL', 'Redis');
}

/** The redis-server binary, for a test that runs a Redis of its own (redis-cli lies beside it). */
export function redisServer(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_REDIS_SERVER', 'redis-server');
}

/** The Chromium executable for browser tests, or skips the test (outside CI). */
export function chromiumPath(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_CHROMIUM', 'Chromium');
}

/** nginx with auth_request, for the decision-mode tests, or skips the test (outside CI). */
export function nginxPath(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_NGINX', 'nginx');
}

/** A Traefik binary built from its Go module, for the decision-mode tests, or skips the test (outside CI). */
export function traefikPath(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_TRAEFIK', 'Traefik');
}

/** The CRD file Istio (`istio`) or Envoy Gateway (`envoy-gateway`) publishes, or skips the test (outside CI). */
export function crdFile(t: TestContext, mesh: 'istio' | 'envoy-gateway'): string | undefined {
  return mesh === 'istio'
    ? requireService(t, 'STEPGATE_TEST_ISTIO_CRDS', 'the Istio CRDs')
    : requireService(t, 'STEPGATE_TEST_ENVOY_GATEWAY_CRDS', 'the Envoy Gateway CRDs');
}

/** stepgate-deploy-tools (compose-go, BuildKit's linter, kustomize), or skips the test (outside CI). */
export function deployTools(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_DEPLOY_TOOLS', 'stepgate-deploy-tools');
}

/** The kubernetes-validate launcher (Kubernetes API schemas), or skips the test (outside CI). */
export function kubernetesValidate(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_KUBERNETES_VALIDATE', 'kubernetes-validate');
}

/** The real Keycloak `npm test` started (scripts/services/keycloak.ts), or skips the test (outside CI). */
export interface KeycloakService {
  /** Base URL, `http://127.0.0.1:PORT`; the realm `platform` is `${url}/realms/platform`. */
  readonly url: string;
  readonly adminUser: string;
  readonly adminPassword: string;
}

/** The Keycloak of this test run, if any, without skipping (for `before` hooks). */
export function keycloakService(): KeycloakService | undefined {
  const url = process.env['STEPGATE_TEST_KEYCLOAK_URL'];
  if (!url) return undefined;
  return {
    url,
    adminUser: process.env['STEPGATE_TEST_KEYCLOAK_ADMIN_USER'] ?? 'admin',
    adminPassword: process.env['STEPGATE_TEST_KEYCLOAK_ADMIN_PASSWORD'] ?? '',
  };
}

/** The management interface of this run's Keycloak (`/health/ready`), or skips the test (outside CI). */
export function keycloakManagementUrl(t: TestContext): string | undefined {
  return requireService(t, 'STEPGATE_TEST_KEYCLOAK_MANAGEMENT_URL', "Keycloak's management interface");
}

/** The Keycloak of this test run (realm `platform` imported), or skips the test (outside CI). */
export function keycloakUrl(t: TestContext): KeycloakService | undefined {
  return requireService(t, 'STEPGATE_TEST_KEYCLOAK_URL', 'Keycloak') ? keycloakService() : undefined;
}
