/** Every service `npm test` provides, started together. Add a service here and in its own file. */
import { chromium } from './chromium.ts';
import { deployTools } from './deploy-tools.ts';
import { kubernetesSchemas } from './kubernetes-schemas.ts';
import { redis } from './redis.ts';
import type { Service } from './types.ts';

export const services: readonly Service[] = [redis, chromium, deployTools, kubernetesSchemas];
