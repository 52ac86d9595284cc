/**
 * WebDataset-style brace expansion of shard names.
 *
 * @module
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { describe, excerpt } from '../../src/excerpt.js';

/** The most names one pattern may expand to: a typo like `{0..99999999}` fails instead of filling memory. */
const MAX_EXPANSION = 1_000_000;

/** The most characters all names together may hold (64 Mi): a long pattern times many names is bounded too. */
const MAX_EXPANSION_CHARS = 64 * 1024 * 1024;

/**
 * Expand shard patterns as WebDataset does: `{000000..000099}` is a numeric range, zero-padded
 * to the width of its bounds when they are written with leading zeros; `{a,b,c}` is a list; a
 * pattern may hold several groups, expanded left to right (the rightmost varies fastest).
 *
 * @example
 * ```ts
 * import { expandBraces } from 'rxfeed/objectstore';
 * expandBraces('shard-{000..002}.tar'); // ['shard-000.tar', 'shard-001.tar', 'shard-002.tar']
 * expandBraces('{train,val}-{0..1}.tar'); // ['train-0.tar', 'train-1.tar', 'val-0.tar', 'val-1.tar']
 * ```
 *
 * @param pattern - A name or URL with `{a..b}` / `{x,y}` groups (no nesting).
 * @returns Every name, in order; the pattern itself when it has no group.
 * @throws InvalidArgumentError on a pattern that is not a string, an unbalanced or nested brace,
 * a descending range, more than 1,000,000 names, or more than 64 Mi characters in all.
 * @public
 */
export function expandBraces(pattern: string): string[] {
  if (typeof pattern !== 'string') throw new InvalidArgumentError('expandBraces.pattern', `must be a string, got ${describe(pattern)}`);
  const parts: string[][] = [];
  let literal = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '}') throw new InvalidArgumentError('expandBraces', `unbalanced '}' at ${i} in ${excerpt(JSON.stringify(pattern))}`);
    if (char !== '{') {
      literal += char;
      continue;
    }
    const close = pattern.indexOf('}', i);
    const body = close < 0 ? '' : pattern.slice(i + 1, close);
    if (close < 0 || body.includes('{')) {
      throw new InvalidArgumentError('expandBraces', `unbalanced or nested '{' at ${i} in ${excerpt(JSON.stringify(pattern))}`);
    }
    parts.push([literal]);
    literal = '';
    parts.push(expandGroup(body, pattern));
    i = close;
  }
  parts.push([literal]);
  const total = parts.reduce((count, options) => count * options.length, 1);
  if (total > MAX_EXPANSION) {
    throw new InvalidArgumentError(
      'expandBraces',
      `${excerpt(JSON.stringify(pattern))} expands to ${total} names (limit ${MAX_EXPANSION})`,
    );
  }
  // Each name is at most as long as the pattern's literals plus its longest option per group.
  const longest = parts.reduce((length, options) => length + options.reduce((most, option) => Math.max(most, option.length), 0), 0);
  if (total * longest > MAX_EXPANSION_CHARS) {
    throw new InvalidArgumentError(
      'expandBraces',
      `${excerpt(JSON.stringify(pattern))} expands to about ${total * longest} characters (limit ${MAX_EXPANSION_CHARS})`,
    );
  }
  let names = [''];
  for (const options of parts) {
    if (options.length === 1) {
      names = names.map((name) => name + options[0]);
      continue;
    }
    names = names.flatMap((name) => options.map((option) => name + option));
  }
  return names;
}

function expandGroup(body: string, pattern: string): string[] {
  const range = /^(-?\d+)\.\.(-?\d+)$/.exec(body);
  if (range !== null) {
    const [, from, to] = range as unknown as [string, string, string];
    const first = Number(from);
    const last = Number(to);
    if (last < first) throw new InvalidArgumentError('expandBraces', `descending range {${body}} in ${excerpt(JSON.stringify(pattern))}`);
    if (last - first + 1 > MAX_EXPANSION) {
      throw new InvalidArgumentError('expandBraces', `{${body}} has more than ${MAX_EXPANSION} names`);
    }
    // WebDataset pads to the width of the first bound when it is written with a leading zero.
    const padded = /^-?0\d/.test(from) || /^-?0\d/.test(to);
    const width = padded ? Math.max(from.length, to.length) : 0;
    return Array.from({ length: last - first + 1 }, (_, i) => String(first + i).padStart(width, '0'));
  }
  return body.split(',');
}
