/**
 * YAML syntax errors as sentences a reader can act on, each with its line and column, rather
 * than the parser's terse messages and caret drawings.
 */
import type { YAMLError } from 'yaml';
import type { ConfigProblem } from '../errors.ts';

/** At most this many: after the first few, syntax errors mostly repeat one mistake. */
const MAX_YAML_PROBLEMS = 5;

/** The key written at `line`/`column` (1-based) of `text`, for "the key … appears twice". */
function keyAt(text: string, line: number, column: number): string {
  const source = text.split('\n')[line - 1] ?? '';
  const key = /^\s*(?:-\s+)?("(?:[^"\\]|\\.)*"|'[^']*'|[^:#]*?)\s*:/.exec(source.slice(column - 1))?.[1] ?? '';
  return key.replace(/^["']|["']$/g, '');
}

/** The parser's message without its position and drawing, as a sentence. */
function sentence(message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
  const text = first.charAt(0).toUpperCase() + first.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function explain(error: YAMLError, text: string, line: number, column: number): string {
  switch (error.code) {
    case 'DUPLICATE_KEY':
      return `The key ${JSON.stringify(keyAt(text, line, column))} appears twice in the same mapping; each key may appear only once.`;
    case 'TAB_AS_INDENT':
      return 'A tab is used for indentation; YAML indents with spaces only.';
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'A value holds another "key: value" on the same line; put the nested keys on their own indented lines, or quote the value.';
    case 'MULTILINE_IMPLICIT_KEY':
      return 'A key runs over more than one line; a key and its ":" must be on one line (is a quote or bracket left open above?).';
    default:
      return sentence(error.message);
  }
}

/** One problem per syntax error (at most five), each naming its line and column. */
export function yamlProblems(errors: readonly YAMLError[], text: string): ConfigProblem[] {
  return errors.slice(0, MAX_YAML_PROBLEMS).map((error) => {
    const { line, col } = error.linePos?.[0] ?? { line: 1, col: 1 };
    return { path: '', line, column: col, message: `The file is not valid YAML. ${explain(error, text, line, col)}` };
  });
}
