/**
 * `stepgate export istio|envoy-gateway --config FILE [--strict]`: the policies as the mesh's own
 * objects, YAML on stdout (one document each); on stderr, per route, what they cannot carry.
 * Whatever is not carried is left out by refusing, never by allowing more. Exit 0, or 1 with
 * `--strict` when anything was left out.
 */
import { stringify } from 'yaml';
import { loadConfigFile } from '../config/load.ts';
import { envoyGatewayObjects } from '../export/envoy-gateway.ts';
import { istioObjects } from '../export/istio.ts';
import { planExport } from '../export/plan.ts';

export const EXPORT_FORMATS = ['istio', 'envoy-gateway'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Never carried by any mesh object: said once, not counted as dropped. */
const ALWAYS = 'not carried by any route: stepgate\'s refusal reasons and problem documents, its audit records '
  + '(the mesh logs its own), and its identity headers and signed assertion';

export function exportPolicies(format: ExportFormat, configFile: string, strict: boolean): number {
  const config = loadConfigFile(configFile);
  const plan = planExport(config);
  const dropped = new Map(plan.dropped);
  const drop = (route: string, what: string) => {
    const list = dropped.get(route) ?? [];
    if (!list.includes(what)) dropped.set(route, [...list, what]);
  };
  const docs = format === 'istio' ? istioObjects(plan, drop) : envoyGatewayObjects(plan, drop);
  const header = `# stepgate export ${format} --config ${configFile}\n`;
  process.stdout.write(header + docs.map((doc) => `---\n${stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false })}`).join(''));
  config.routes.forEach((route, i) => {
    for (const what of dropped.get(route.name) ?? []) process.stderr.write(`routes[${i}] ${route.name}: ${what}\n`);
  });
  process.stderr.write(`note: ${ALWAYS}\n`);
  return strict && dropped.size > 0 ? 1 : 0;
}
