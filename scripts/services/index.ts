/** Every service `npm test` provides, started together. Add a service here and in its own file. */
import { chromium } from './chromium.ts';
import { keycloak } from './keycloak.ts';
import { redis } from './redis.ts';
import type { Service } from './types.ts';

export const services: readonly Service[] = [redis, chromium, keycloak];
