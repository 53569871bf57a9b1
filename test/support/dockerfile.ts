/**
 * Reads a Dockerfile's instructions, stage by stage, so tests can check what it does and replay
 * it natively (test/deploy/production-install.test.ts). Only the syntax the project's Dockerfile
 * uses: comments, `\` continuations, `ARG` before `FROM`, `FROM … AS name`. BuildKit's own parser
 * and linter check the file itself (test/deploy/dockerfile.test.ts).
 */

export interface Instruction {
  /** Upper-case: RUN, COPY, … */
  readonly keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  readonly args: string;
}

export interface Stage {
  /** The base image, `${ARG}`s from before the first FROM replaced by their defaults. */
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

export function readDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/);
      const from = image.replace(/\$\{(\w+)\}/g, (_m, arg: string) => globalArgs.get(arg) ?? '');
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0 && upper === 'ARG') {
      const [name = '', value = ''] = args.split('=');
      globalArgs.set(name, value);
    } else {
      stages.at(-1)?.instructions.push({ keyword: upper, args });
    }
  }
  return stages;
}

/** The exec-form (JSON array) arguments of an instruction such as `CMD ["serve"]`. */
export function execForm(args: string): string[] {
  return JSON.parse(args.replace(/^--\S+\s+/g, '')) as string[];
}
