/**
 * Re-opening a source over some of its files or a range of its elements: the `files`,
 * `selectFiles`, `size` and `selectRange` a source carries for `shard` (see `DatasetInfo`),
 * built in one place for every source kind.
 *
 * A source is a list of parts, each an input (a file, a shard, a database view) and the span of
 * its elements that is read. Selecting files keeps some parts; selecting a range carves the
 * parts' spans; either way the source re-opens itself over the new parts.
 *
 * @module
 * @internal
 */
import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { describe } from '../../src/excerpt.js';
import type { DatasetInfo } from '../../src/info.js';

/**
 * One part of a source: an input and the elements `[first, end)` of it that are read.
 * @internal
 */
export interface Part<I> {
  readonly input: I;
  /** The first element of the input that is read. */
  readonly first: number;
  /** The element after the last one read; `undefined`: to the input's end, its length unknown. */
  readonly end: number | undefined;
}

/**
 * How a source re-opens itself over other parts.
 * @internal
 */
export interface Reopen<I, T> {
  /** The source's name, for errors: `fromTFRecord` gives `fromTFRecord.selectRange`. */
  readonly where: string;
  /** The source over these parts (each subscription reads them again). */
  readonly open: (parts: readonly Part<I>[]) => Observable<T>;
  /** An input's file name: with it the source carries `files` and `selectFiles`. */
  readonly fileName?: (input: I) => string;
  /**
   * A range reaching past the size: `'error'` (default; the size is exact, so it is a caller's
   * mistake) or `'clamp'` to the size (a database view counted once, which a range computed
   * against an older count may overrun).
   */
  readonly pastEnd?: 'error' | 'clamp';
}

/**
 * The metadata of a source over `parts`: `files` and `selectFiles` when inputs have file names,
 * `size` and `selectRange` when every part's span is known.
 * @internal
 */
export function partsInfo<I, T>(parts: readonly Part<I>[], reopen: Reopen<I, T>): DatasetInfo<T> {
  const { fileName, where } = reopen;
  const files =
    fileName === undefined
      ? {}
      : {
          files: parts.map((part) => fileName(part.input)),
          selectFiles: (indices: readonly number[]) => reopen.open(pickParts(parts, indices, `${where}.selectFiles`)),
        };
  const size = sizeOf(parts);
  if (size === undefined) return files;
  return {
    ...files,
    size,
    selectRange: (start: number, end: number) => {
      const [from, to] = checkRange(start, end, size, reopen.pastEnd ?? 'error', `${where}.selectRange`);
      return reopen.open(carveParts(parts, from, to));
    },
  };
}

/** The number of elements the parts hold, when every span is known. */
function sizeOf(parts: readonly Part<unknown>[]): number | undefined {
  let size = 0;
  for (const part of parts) {
    if (part.end === undefined) return undefined;
    size += part.end - part.first;
  }
  return size;
}

/** The parts at `indices`, in that order; an index naming no part fails typed. */
function pickParts<I>(parts: readonly Part<I>[], indices: readonly number[], argument: string): Part<I>[] {
  if (!Array.isArray(indices)) throw new InvalidArgumentError(argument, `expected an array of positions, got ${describe(indices)}`);
  return indices.map((index) => {
    const part = Number.isSafeInteger(index) ? parts[index] : undefined;
    if (part === undefined) throw new InvalidArgumentError(argument, `no file at position ${describe(index)} of ${parts.length}`);
    return part;
  });
}

function checkRange(start: number, end: number, size: number, pastEnd: 'error' | 'clamp', argument: string): [number, number] {
  const limit = pastEnd === 'clamp' ? Number.MAX_SAFE_INTEGER : size;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > limit) {
    throw new InvalidArgumentError(argument, `[${describe(start)}, ${describe(end)}) is not a range of [0, ${size})`);
  }
  return [Math.min(start, size), Math.min(end, size)];
}

/**
 * The parts holding elements `[start, end)` of the parts' concatenation, each narrowed to them;
 * parts left with no element are dropped. Every span must be known.
 * @internal
 */
export function carveParts<I>(parts: readonly Part<I>[], start: number, end: number): Part<I>[] {
  const carved: Part<I>[] = [];
  let before = 0;
  for (const part of parts) {
    const length = part.end! - part.first;
    const from = Math.max(start - before, 0);
    const to = Math.min(end - before, length);
    if (from < to) carved.push({ input: part.input, first: part.first + from, end: part.first + to });
    before += length;
  }
  return carved;
}
