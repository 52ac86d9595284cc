/**
 * Samplers: the order in which a random-access dataset is read, as a pure function of
 * (seed, epoch, position).
 *
 * A sampler is plain data ({@link SamplerSpec}: `{ kind: 'shuffle', seed: 7 }`), so it survives
 * `JSON.stringify` into a checkpoint and means the same thing when read back; {@link orderOf}
 * turns it, for one dataset size and epoch, into an {@link IndexOrder} that maps any position to
 * an index without materialising the order. Nothing is hidden: the same (sampler, size, epoch)
 * gives the same order in every process, on every rank, after any restart.
 *
 * A custom order (fastai's `shuffle_fn`, a curriculum) is a function `(size, epoch) => indices`;
 * it is the one sampler that is not data, so a checkpoint stores its own description of it.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';
import { describe } from './excerpt.js';
import { IndexPermutation } from './indexPermutation.js';
import { deriveSeed, Random, randomSeed } from './random.js';

/**
 * The order positions `[0, length)` of one epoch map to: `at(p)` is the dataset index read at
 * position `p`.
 * @public
 */
export interface IndexOrder {
  /** The number of positions (the dataset size, or fewer for `take`/`skip`/index lists). */
  readonly length: number;
  /** The index at `position`, an integer in `[0, length)`. */
  at(position: number): number;
}

/**
 * A sampler as plain, serialisable data; build one with {@link sequential}, {@link globalShuffle},
 * {@link blockShuffle}, {@link indexList}, {@link skipOrder} or {@link takeOrder}.
 * @public
 */
export type SamplerSpec =
  | { readonly kind: 'sequential' }
  | { readonly kind: 'shuffle'; readonly seed: number }
  | { readonly kind: 'blockShuffle'; readonly seed: number; readonly shardsPerBlock: number }
  | { readonly kind: 'indices'; readonly indices: readonly number[] }
  | { readonly kind: 'slice'; readonly sampler: SamplerSpec; readonly skip: number; readonly take?: number };

/**
 * A custom order, as fastai's `shuffle_fn`: the indices of one epoch, given the dataset size.
 * Each index must be in `[0, size)`; repeats are allowed (oversampling).
 * @public
 */
export type OrderFunction = (size: number, epoch: number) => readonly number[];

/**
 * What `fromRandomAccess` accepts as its order.
 * @public
 */
export type Sampler = SamplerSpec | OrderFunction;

/**
 * Read the dataset front to back.
 *
 * @example
 * ```ts
 * import { fromRandomAccess, sequential, type RandomAccess } from 'rxfeed';
 * declare const dataset: RandomAccess<Uint8Array>;
 * fromRandomAccess(dataset, { sampler: sequential() });
 * ```
 * @public
 */
export function sequential(): SamplerSpec {
  return { kind: 'sequential' };
}

/**
 * A uniform global shuffle in O(1) memory: a keyed bijection on `[0, size)` (a cycle-walking
 * Feistel network, see {@link IndexPermutation}), a new one for every epoch. Any size up to 2^53.
 *
 * @example
 * ```ts
 * import { fromRandomAccess, globalShuffle, type RandomAccess } from 'rxfeed';
 * declare const dataset: RandomAccess<Uint8Array>;
 * fromRandomAccess(dataset, { sampler: globalShuffle({ seed: 42 }) });
 * ```
 *
 * @param options - `seed`: any safe integer; default a fresh random one, recorded in the returned
 *   spec (so the order can still be replayed from a checkpoint).
 * @public
 */
export function globalShuffle(options: { readonly seed?: number } = {}): SamplerSpec {
  const seed = options.seed ?? randomSeed();
  checkSeed(seed, 'globalShuffle.seed');
  return { kind: 'shuffle', seed };
}

/**
 * A shuffle that keeps reads local, for shards fetched from a store (MosaicML Streaming's "py1e"
 * idea): the shard order is shuffled, the shuffled shards are cut into blocks of
 * `shardsPerBlock`, and the samples of each block are shuffled together. A reader then touches at
 * most `shardsPerBlock` shards at a time, and each shard is read while its block is.
 *
 * Quality: a sample moves anywhere in the epoch with its shard, and mixes uniformly with the
 * samples of the `shardsPerBlock - 1` shards that share its block; two samples of one shard are
 * never further apart than a block. With `shardsPerBlock` equal to the shard count it is
 * {@link globalShuffle}; with 1 it shuffles shards and samples within shards only.
 *
 * Needs the dataset's `layout` (its shard boundaries); without one, `fromRandomAccess` fails.
 *
 * @param options - `seed` (default random, recorded), `shardsPerBlock` (default 4).
 * @public
 */
export function blockShuffle(options: { readonly seed?: number; readonly shardsPerBlock?: number } = {}): SamplerSpec {
  const seed = options.seed ?? randomSeed();
  const shardsPerBlock = options.shardsPerBlock ?? 4;
  checkSeed(seed, 'blockShuffle.seed');
  checkCount(shardsPerBlock, 'blockShuffle.shardsPerBlock', 1);
  return { kind: 'blockShuffle', seed, shardsPerBlock };
}

/**
 * Read exactly these indices, in this order, every epoch (PyTorch's `Subset` with a sequential
 * sampler). Repeats are allowed. The list is copied.
 *
 * @param indices - Dataset indices; checked against the size when the order is made.
 * @public
 */
export function indexList(indices: readonly number[]): SamplerSpec {
  if (!Array.isArray(indices)) throw new InvalidArgumentError('indexList.indices', `expected an array, got ${describe(indices)}`);
  indices.forEach((index, position) => {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new InvalidArgumentError('indexList.indices', `indices[${position}] is ${describe(index)}, not a dataset index`);
    }
  });
  return { kind: 'indices', indices: Object.freeze([...indices]) };
}

/**
 * Skip the first `count` positions of `sampler`'s order (tf.data's `skip`).
 * @public
 */
export function skipOrder(sampler: SamplerSpec, count: number): SamplerSpec {
  checkCount(count, 'skipOrder.count', 0);
  if (sampler.kind === 'slice')
    return { ...sampler, skip: sampler.skip + count, take: sampler.take === undefined ? undefined : Math.max(0, sampler.take - count) };
  return { kind: 'slice', sampler, skip: count };
}

/**
 * Keep only the first `count` positions of `sampler`'s order (tf.data's `take`).
 * @public
 */
export function takeOrder(sampler: SamplerSpec, count: number): SamplerSpec {
  checkCount(count, 'takeOrder.count', 0);
  if (sampler.kind === 'slice') return { ...sampler, take: Math.min(sampler.take ?? Infinity, count) };
  return { kind: 'slice', sampler, skip: 0, take: count };
}

/**
 * The order `sampler` gives a dataset of `size` elements in epoch `epoch`.
 *
 * @param sampler - A {@link SamplerSpec} (possibly parsed from JSON: it is checked) or an
 *   {@link OrderFunction}.
 * @param size - The dataset's size.
 * @param epoch - The epoch, a non-negative integer.
 * @param shardEnds - The dataset's shard boundaries (its layout), needed by `blockShuffle`.
 * @returns The order; O(1) memory except for index lists, custom orders and `blockShuffle` (O(shards)).
 * @throws {@link InvalidArgumentError} for a malformed sampler, or indices outside `[0, size)`.
 * @public
 */
export function orderOf(sampler: Sampler, size: number, epoch: number, shardEnds?: readonly number[]): IndexOrder {
  checkCount(epoch, 'orderOf.epoch', 0);
  if (typeof sampler === 'function') {
    const indices = sampler(size, epoch);
    return listOrder(indices, size, 'sampler (an order function)');
  }
  if (typeof sampler !== 'object' || sampler === null)
    throw new InvalidArgumentError('sampler', `expected a sampler, got ${describe(sampler)}`);
  switch (sampler.kind) {
    case 'sequential':
      return { length: size, at: (position) => position };
    case 'shuffle': {
      checkSeed(sampler.seed, 'sampler.seed');
      const permutation = new IndexPermutation(size, sampler.seed, epoch);
      return { length: size, at: (position) => permutation.at(position) };
    }
    case 'blockShuffle':
      checkSeed(sampler.seed, 'sampler.seed');
      checkCount(sampler.shardsPerBlock, 'sampler.shardsPerBlock', 1);
      if (shardEnds === undefined) {
        throw new InvalidArgumentError(
          'sampler',
          "blockShuffle needs the dataset's layout (its shard boundaries), and this dataset has none",
        );
      }
      return blockOrder(shardEnds, sampler.seed, sampler.shardsPerBlock, epoch);
    case 'indices':
      return listOrder(sampler.indices, size, 'sampler.indices');
    case 'slice': {
      checkCount(sampler.skip, 'sampler.skip', 0);
      if (sampler.take !== undefined) checkCount(sampler.take, 'sampler.take', 0);
      const inner = orderOf(sampler.sampler, size, epoch, shardEnds);
      const from = Math.min(sampler.skip, inner.length);
      const length = Math.min(inner.length - from, sampler.take ?? Infinity);
      return { length, at: (position) => inner.at(from + position) };
    }
    default:
      throw new InvalidArgumentError('sampler.kind', `unknown sampler kind ${describe((sampler as { kind?: unknown }).kind)}`);
  }
}

function listOrder(indices: readonly number[], size: number, argument: string): IndexOrder {
  if (!Array.isArray(indices)) throw new InvalidArgumentError(argument, `expected an array of indices, got ${describe(indices)}`);
  const copy = Float64Array.from(indices);
  copy.forEach((index, position) => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new InvalidArgumentError(argument, `indices[${position}] is ${describe(indices[position])}, not an index of [0, ${size})`);
    }
  });
  return { length: copy.length, at: (position) => copy[position]! };
}

/**
 * The block shuffle's order: shards shuffled, cut into blocks of `shardsPerBlock`, each block's
 * samples permuted by their own {@link IndexPermutation}.
 */
function blockOrder(shardEnds: readonly number[], seed: number, shardsPerBlock: number, epoch: number): IndexOrder {
  const shards = shardEnds.length;
  const starts = shardEnds.map((_, shard) => (shard === 0 ? 0 : shardEnds[shard - 1]!));
  const shardOrder = new Random(deriveSeed(seed, epoch, 1)).shuffle(Uint32Array.from({ length: shards }, (_, shard) => shard));
  const blockSeed = deriveSeed(seed, epoch, 2);
  // Per block: where its positions start, and the cumulative sizes of its shards.
  const blockStarts: number[] = [];
  const blockShards: { shard: number; end: number }[][] = [];
  let position = 0;
  for (let first = 0; first < shards; first += shardsPerBlock) {
    blockStarts.push(position);
    const members: { shard: number; end: number }[] = [];
    let inBlock = 0;
    for (const shard of shardOrder.subarray(first, first + shardsPerBlock)) {
      inBlock += shardEnds[shard]! - starts[shard]!;
      members.push({ shard, end: inBlock });
    }
    blockShards.push(members);
    position += inBlock;
  }
  const permutations = new Map<number, IndexPermutation>();
  return {
    length: position,
    at: (at) => {
      let low = 0;
      let high = blockStarts.length - 1;
      while (low < high) {
        const middle = (low + high + 1) >>> 1;
        if (blockStarts[middle]! <= at) low = middle;
        else high = middle - 1;
      }
      const members = blockShards[low]!;
      const blockSize = members[members.length - 1]!.end;
      let permutation = permutations.get(low);
      if (permutation === undefined) {
        permutation = new IndexPermutation(blockSize, blockSeed, low);
        permutations.set(low, permutation);
      }
      const inBlock = permutation.at(at - blockStarts[low]!);
      let member = 0;
      while (inBlock >= members[member]!.end) member++;
      const before = member === 0 ? 0 : members[member - 1]!.end;
      return starts[members[member]!.shard]! + (inBlock - before);
    },
  };
}

function checkSeed(seed: unknown, argument: string): void {
  if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(argument, `must be a safe integer, got ${describe(seed)}`);
}

function checkCount(value: unknown, argument: string, minimum: number): void {
  if (!Number.isSafeInteger(value) || (value as number) < minimum) {
    throw new InvalidArgumentError(argument, `must be an integer >= ${minimum}, got ${describe(value)}`);
  }
}
