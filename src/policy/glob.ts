/**
 * `*` globs for claim values: `*` matches any run of characters, `/` included (`acme/*` matches
 * `acme/app/sub`); every other character is literal. Compiled once into literal parts and matched
 * left to right with `indexOf`, so an attacker-chosen claim value costs O(length × parts), never
 * the exponential backtracking a naive regex could take.
 */

export type GlobMatcher = (text: string) => boolean;

export function compileGlob(glob: string): GlobMatcher {
  const parts = glob.split('*');
  if (parts.length === 1) return (text) => text === glob;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p !== '');
  const minLength = parts.reduce((n, p) => n + p.length, 0);
  return (text) => {
    if (text.length < minLength || !text.startsWith(first) || !text.endsWith(last)) return false;
    const end = text.length - last.length;
    let position = first.length;
    // Leftmost match of each literal part is always safe: a later start only leaves less room.
    for (const part of middle) {
      const at = text.indexOf(part, position);
      if (at < 0 || at + part.length > end) return false;
      position = at + part.length;
    }
    return true;
  };
}
