/**
 * docs/threat-model.md is only worth something while a reviewer can go from each row to the code
 * and the test it names. This keeps it so: every cited source or test file exists, every symbol
 * cited after a source file is in that file, and every test name quoted after a test file (“…”)
 * is in that file. A rename or a move shows up here, naming the stale citation.
 *
 * Citation syntax, within one table cell (cells are split on " | "):
 *   `src/policy/normalize-path.ts` `normalizeRequestTarget`, `isCanonical`
 *   `test/integration/security/path-attacks.test.ts` “is authorized exactly as GET”
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const root = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('docs/threat-model.md', root), 'utf8');
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface Citation {
  readonly line: number;
  readonly file: string;
  /** A symbol (after a source file) or a quoted test name (after a test file). */
  readonly item?: string;
}

const FILE = /^(src|test)\/[\w./-]+\.ts$/;
const SYMBOL = /^[A-Za-z_$][\w$]*$/;

function citations(): Citation[] {
  const out: Citation[] = [];
  doc.split('\n').forEach((text, index) => {
    for (const cell of text.split(' | ')) {
      let file: string | undefined;
      for (const match of cell.matchAll(/`([^`]+)`|“([^”]+)”/g)) {
        const [, code, quoted] = match;
        if (code !== undefined && FILE.test(code)) {
          file = code;
          out.push({ line: index + 1, file });
        } else if (file?.startsWith('src/') && code !== undefined && SYMBOL.test(code)) {
          out.push({ line: index + 1, file, item: code });
        } else if (file?.startsWith('test/') && quoted !== undefined) {
          out.push({ line: index + 1, file, item: quoted });
        }
      }
    }
  });
  return out;
}

describe('docs/threat-model.md', () => {
  const all = citations();

  it('cites enough code and tests to be checked at all', () => {
    assert.ok(all.filter((c) => c.file.startsWith('test/') && c.item).length > 150, 'test names quoted');
    assert.ok(all.filter((c) => c.file.startsWith('src/') && c.item).length > 80, 'symbols cited');
  });

  it('cites only files that exist', () => {
    const missing = all.filter((c) => !existsSync(new URL(c.file, root))).map((c) => `line ${c.line}: ${c.file}`);
    assert.deepEqual([...new Set(missing)], []);
  });

  it('cites symbols that are in the file named before them', () => {
    const stale = all
      .filter((c) => c.file.startsWith('src/') && c.item && existsSync(new URL(c.file, root)))
      .filter((c) => !new RegExp(`\\b${c.item!.replace(/\$/g, '\\$')}\\b`).test(read(c.file)))
      .map((c) => `line ${c.line}: ${c.file} has no ${c.item}`);
    assert.deepEqual(stale, []);
  });

  it('quotes test names that are in the test file named before them', () => {
    const stale = all
      .filter((c) => c.file.startsWith('test/') && c.item && existsSync(new URL(c.file, root)))
      .filter((c) => !read(c.file).includes(c.item!))
      .map((c) => `line ${c.line}: ${c.file} has no test “${c.item}”`);
    assert.deepEqual(stale, []);
  });
});
