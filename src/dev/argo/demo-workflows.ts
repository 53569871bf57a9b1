/**
 * The demo's local argo-server: a WorkflowTemplate `deploy` that builds `service` at `version`
 * and reports who released it, read from the `stepgate-caller` envelope the gateway sends. It is
 * Pending for a second and Running for five, so its phase can be read as it moves.
 * `startDemoArgo` serves it where the demo config's Argo target points, accepting only a token
 * made for this run, which it writes to the target's `tokenFile` (as Kubernetes would mount a
 * service-account token).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ArgoTargetConfig } from '../../config/schema.ts';
import { type LocalArgo, type LocalTemplate, startLocalArgo } from './server.ts';

interface Envelope {
  caller?: { issuer?: string; sub?: string; clientId?: string | null };
}

export const DEMO_ARGO_SERVICE_ACCOUNT = 'argo/stepgate';

function template(config: ArgoTargetConfig): LocalTemplate {
  return {
    kind: config.templateRef.kind,
    namespace: config.namespace,
    name: config.templateRef.name,
    parameters: [{ name: 'stepgate-caller' }, { name: 'service', value: 'app' }, { name: 'version' }],
    run(parameters) {
      const caller = (JSON.parse(parameters['stepgate-caller'] ?? '{}') as Envelope).caller ?? {};
      const { service, version } = parameters;
      if (!/^[\w.+-]{1,64}$/.test(version ?? '')) return { fail: `cannot build version ${JSON.stringify(version)}` };
      return {
        outputs: {
          artifact: `registry.local/${service}:${version}`,
          releasedBy: `${caller.clientId ?? caller.sub} (${caller.issuer}/${caller.sub})`,
        },
      };
    },
  };
}

/** Serves the demo's template at the target's `server`, and writes a fresh token to its `tokenFile`. */
export async function startDemoArgo(
  config: ArgoTargetConfig,
  options: { readonly clock?: () => number } = {},
): Promise<LocalArgo> {
  const url = new URL(config.server);
  const token = `demo-${randomBytes(24).toString('base64url')}`;
  mkdirSync(dirname(config.tokenFile), { recursive: true });
  writeFileSync(config.tokenFile, `${token}\n`, { mode: 0o600 });
  return startLocalArgo({
    host: url.hostname,
    port: Number(url.port || 80),
    serviceAccounts: [{ token, name: DEMO_ARGO_SERVICE_ACCOUNT }],
    templates: [template(config)],
    pendingMs: 1000,
    runningMs: 5000,
    ...(options.clock ? { clock: options.clock } : {}),
  });
}
