/**
 * Kubernetes label selectors as `listOptions.labelSelector` takes them ("Labels and Selectors":
 * equality-based `k=v`, `k==v`, `k!=v`; set-based `k in (a,b)`, `k notin (a,b)`, `k`, `!k`;
 * requirements joined by `,`, all of which must hold). A selector that does not parse is an error.
 */

export type LabelSelector = (labels: Readonly<Record<string, string>>) => boolean;

const KEY = String.raw`(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?`;
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s+\(([^()]*)\)$`);
const EXISTS = new RegExp(String.raw`^(!?)(${KEY})$`);
const VALUE_ONLY = new RegExp(`^${VALUE}$`);

/** Splits at the commas that are not inside `( )`. */
function requirements(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    if (selector[i] === '(') depth++;
    else if (selector[i] === ')') depth--;
    else if (selector[i] === ',' && depth === 0) {
      out.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  out.push(selector.slice(start));
  return out.map((r) => r.trim());
}

export function parseLabelSelector(selector: string): LabelSelector {
  if (selector.trim() === '') return () => true;
  const tests = requirements(selector).map((requirement): LabelSelector => {
    let m = EQUALITY.exec(requirement);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    m = SET.exec(requirement);
    if (m) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      if (values.some((v) => !VALUE_ONLY.test(v))) throw new Error(`unable to parse requirement: ${requirement}`);
      return op === 'in'
        ? (l) => l[key] !== undefined && values.includes(l[key])
        : (l) => l[key] === undefined || !values.includes(l[key]);
    }
    m = EXISTS.exec(requirement);
    if (m) {
      const [, not, key] = m as unknown as [string, string, string];
      return not ? (l) => l[key] === undefined : (l) => l[key] !== undefined;
    }
    throw new Error(`unable to parse requirement: ${JSON.stringify(requirement)}`);
  });
  return (labels) => tests.every((test) => test(labels));
}
