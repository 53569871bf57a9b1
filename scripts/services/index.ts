/** Every service `npm test` provides, started together. Add a service here and in its own file. */
import { chromium } from './chromium.ts';
import { deployTools } from './deploy-tools.ts';
import { keycloak } from './keycloak.ts';
import { kubernetesSchemas } from './kubernetes-schemas.ts';
import { meshCrds } from './mesh-crds.ts';
import { nginx } from './nginx.ts';
import { redis } from './redis.ts';
import { traefik } from './traefik.ts';
import type { Service } from './types.ts';

export const services: readonly Service[] = [
  redis,
  chromium,
  keycloak,
  nginx,
  traefik,
  meshCrds,
  deployTools,
  kubernetesSchemas,
];
