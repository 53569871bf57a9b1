/** The gateway configs of the guides in docs/, as the tests that try them read them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const DOCS = join(import.meta.dirname, '..', '..', 'docs');

/** The guide's text (`keycloak.md`, `okta.md`, `github-actions.md`). */
export const guide = (name: string): string => readFileSync(join(DOCS, name), 'utf8');

/** The first ```yaml block of a guide whose first line is `# gateway.yaml…`, parsed. */
export function guideGatewayConfig(name: string): Record<string, unknown> {
  for (const [, block] of guide(name).matchAll(/```yaml\n([\s\S]*?)```/g)) {
    if (block!.startsWith('# gateway.yaml')) return parse(block!) as Record<string, unknown>;
  }
  throw new Error(`docs/${name} has no gateway.yaml block`);
}
