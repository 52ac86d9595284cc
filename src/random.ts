/**
 * Seeded, serialisable randomness: every random choice rxfeed makes goes through here.
 *
 * A pipeline must give the same order for the same seed whatever the timing of its I/O and
 * threads, and a training run must be able to resume mid-epoch. So randomness never comes from
 * `Math.random` but from {@link Random}, a xoshiro128** generator in 32-bit integer arithmetic
 * whose whole state is four unsigned 32-bit numbers: read it with {@link Random.state}, store it
 * as JSON, and continue the exact same sequence with {@link Random.fromState}. Seeds for each
 * (seed, epoch, rank, worker) come from {@link deriveSeed}, so no two of them share a stream by
 * accident.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/**
 * The complete state of a {@link Random}: four unsigned 32-bit integers, not all zero. A plain
 * array, so it survives `JSON.stringify` / `JSON.parse` and `structuredClone`.
 * @public
 */
export type RandomState = readonly [number, number, number, number];

const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_53 = 2 ** 53;

/**
 * A seeded pseudo-random generator (xoshiro128**, Blackman and Vigna) whose state can be saved
 * and restored.
 *
 * xoshiro128** passes BigCrush, has a period of 2^128 - 1, and needs only 32-bit integer
 * operations (`Math.imul`, shifts), which JavaScript does exactly and fast. The seed is spread
 * over the 128-bit state by a murmur3 hash, so nearby seeds (0, 1, 2 ...) give unrelated streams.
 *
 * @example
 * ```ts
 * import { Random } from 'rxfeed';
 * const random = new Random(42);
 * const die = random.int(6) + 1;            // 1..6, unbiased
 * const saved = random.state;               // e.g. store with a checkpoint
 * const resumed = Random.fromState(saved);  // continues exactly where `random` is now
 * random.next() === resumed.next();         // true
 * ```
 * @public
 */
export class Random {
  /**
   * The four state words. A typed array, not four number fields: a word of 2^31 or more does not
   * fit a small integer, and each store to a field would allocate a heap number, four per draw.
   */
  readonly #s = new Uint32Array(4);

  /**
   * @param seed - Any safe integer (negative ones included); the same seed gives the same stream.
   * @throws {@link InvalidArgumentError} when `seed` is not a safe integer.
   */
  constructor(seed: number) {
    checkSafeInteger('Random.seed', seed);
    const words = wordsOf(seed);
    // Four independent hashes of the seed, one per state word: a 53-bit seed keeps its entropy.
    const s = this.#s;
    s[0] = murmur3(words, 0x9e3779b9);
    s[1] = murmur3(words, 0x3c6ef372);
    s[2] = murmur3(words, 0xdaa66d2b);
    s[3] = murmur3(words, 0x78dde6e4);
    // The all-zero state is the one xoshiro cannot leave; a hash landing there is astronomically
    // unlikely, but cheap to rule out.
    if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  }

  /**
   * Continue a generator from a state read earlier with {@link Random.state}.
   *
   * @example
   * ```ts
   * import { Random } from 'rxfeed';
   * const copy = Random.fromState(JSON.parse(JSON.stringify(new Random(7).state)));
   * ```
   *
   * @param state - Four unsigned 32-bit integers, not all zero.
   * @returns A generator that produces exactly what the saved one would have produced next.
   * @throws {@link InvalidArgumentError} when `state` is not such an array.
   */
  static fromState(state: RandomState | readonly number[]): Random {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((word) => Number.isInteger(word) && word >= 0 && word < TWO_POW_32)) {
      throw new InvalidArgumentError('Random.fromState', `a state is four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    if (state.every((word) => word === 0)) {
      throw new InvalidArgumentError('Random.fromState', 'the all-zero state is not a valid xoshiro128** state');
    }
    const random = new Random(0);
    random.#s.set(state);
    return random;
  }

  /**
   * The generator's whole state, as a fresh array (changing it does not change the generator).
   *
   * @example
   * ```ts
   * import { Random } from 'rxfeed';
   * const random = new Random(7);
   * const checkpoint = { shuffle: random.state };
   * ```
   */
  get state(): RandomState {
    const s = this.#s;
    return [s[0]!, s[1]!, s[2]!, s[3]!];
  }

  /**
   * The next 32 random bits.
   *
   * @example
   * ```ts
   * import { Random } from 'rxfeed';
   * const word = new Random(1).nextUint32(); // 0 <= word < 2 ** 32
   * ```
   *
   * @returns An integer in [0, 2^32).
   */
  nextUint32(): number {
    const s = this.#s;
    const s0 = s[0]!;
    const s1 = s[1]!;
    const s2 = s[2]!;
    const s3 = s[3]!;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    // The Uint32Array keeps the words unsigned, so `state` reads the same however it was reached.
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = rotl(n3, 11);
    return result >>> 0;
  }

  /**
   * A float in [0, 1) with 53 random bits (two 32-bit draws), like a uniform double.
   *
   * @example
   * ```ts
   * import { Random } from 'rxfeed';
   * const coin = new Random(3).next() < 0.5;
   * ```
   *
   * @returns A number in [0, 1).
   */
  next(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 0x400_0000 + low) / TWO_POW_53;
  }

  /**
   * A uniform integer in [0, n), without modulo bias: draws that fall in the incomplete last
   * interval are rejected and drawn again (at most half of the draws, on average far fewer).
   *
   * @example
   * ```ts
   * import { Random } from 'rxfeed';
   * const slot = new Random(5).int(8192); // 0..8191
   * ```
   *
   * @param n - The number of possible results: a safe integer from 1 to 2^53.
   * @returns An integer in [0, n).
   * @throws {@link InvalidArgumentError} when `n` is out of range.
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_53) {
      throw new InvalidArgumentError('Random.int', `n must be an integer from 1 to 2^53, got ${n}`);
    }
    if (n <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      for (;;) {
        const draw = this.nextUint32();
        if (draw < limit) return draw % n;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % n);
    for (;;) {
      const draw = (this.nextUint32() >>> 11) * TWO_POW_32 + this.nextUint32(); // 21 + 32 bits
      if (draw < limit) return draw % n;
    }
  }

  /**
   * Shuffle `array` in place (Fisher-Yates): every order is equally likely.
   *
   * @example
   * ```ts
   * import { Random } from 'rxfeed';
   * const order = new Random(9).shuffle([0, 1, 2, 3, 4]);
   * ```
   *
   * @param array - Any mutable array-like (arrays, typed arrays).
   * @returns The same `array`, shuffled.
   */
  shuffle<A extends { length: number; [index: number]: unknown }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const held = array[i];
      array[i] = array[j];
      array[j] = held;
    }
    return array;
  }
}

/**
 * Derive a seed from a base seed and some integers, such as (seed, epoch, rank, worker).
 *
 * Each argument is hashed as a signed 64-bit integer with murmur3 (two hashes with different
 * seeds make 53 bits), and the number of parts is hashed too, so `deriveSeed(s)`,
 * `deriveSeed(s, 0)` and `deriveSeed(s, 0, 0)` all differ, and changing any one part changes the
 * result unpredictably. Used by `shuffleBuffer` (per epoch, rank and worker) and `mix` (per epoch).
 *
 * @example
 * ```ts
 * import { deriveSeed, Random } from 'rxfeed';
 * declare const seed: number, epoch: number, rank: number, workerIndex: number;
 * const perWorker = new Random(deriveSeed(seed, epoch, rank, workerIndex));
 * ```
 *
 * @param seed - The base seed, a safe integer.
 * @param parts - Safe integers to mix in, in order.
 * @returns A seed in [0, 2^53), suitable for `new Random(...)`.
 * @throws {@link InvalidArgumentError} when any argument is not a safe integer.
 * @public
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  checkSafeInteger('deriveSeed.seed', seed);
  const words: number[] = [...wordsOf(seed)];
  parts.forEach((part, index) => {
    checkSafeInteger(`deriveSeed.parts[${index}]`, part);
    words.push(...wordsOf(part));
  });
  const high = murmur3(words, 0x2545f491) & 0x1f_ffff; // 21 bits
  const low = murmur3(words, 0x6a09e667);
  return high * TWO_POW_32 + low;
}

/**
 * A random permutation of 0..n-1.
 *
 * @example
 * ```ts
 * import { deriveSeed, permutation } from 'rxfeed';
 * declare const dataset: string[], seed: number, epoch: number;
 * declare function visit(item: string): void;
 * const order = permutation(dataset.length, deriveSeed(seed, epoch));
 * for (const i of order) visit(dataset[i]);
 * ```
 *
 * @param n - The number of elements, from 0 to 2^32 - 1.
 * @param seedOrRandom - A seed, or a {@link Random} to draw from (it advances).
 * @returns A `Uint32Array` holding each of 0..n-1 exactly once, in random order.
 * @throws {@link InvalidArgumentError} when `n` is out of range or the seed is not a safe integer.
 * @public
 */
export function permutation(n: number, seedOrRandom: number | Random): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n >= TWO_POW_32) {
    throw new InvalidArgumentError('permutation.n', `must be an integer from 0 to 2^32 - 1, got ${n}`);
  }
  const random = seedOrRandom instanceof Random ? seedOrRandom : new Random(seedOrRandom);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return random.shuffle(order);
}

/**
 * A fresh seed from the operating system's generator (`crypto.getRandomValues`), for operators
 * given no seed: each call differs, so such a pipeline is not reproducible.
 *
 * @example
 * ```ts
 * import { randomSeed } from 'rxfeed';
 * const seed = randomSeed();
 * console.log(`shuffling with seed ${seed}`); // log it to be able to replay the run
 * ```
 *
 * @returns A seed in [0, 2^53).
 * @public
 */
export function randomSeed(): number {
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return (words[0]! & 0x1f_ffff) * TWO_POW_32 + words[1]!;
}

function checkSafeInteger(argument: string, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(argument, `must be a safe integer, got ${String(value)}`);
  }
}

/** The two 32-bit words (low, high) of a safe integer, as a two's-complement 64-bit integer. */
function wordsOf(value: number): [number, number] {
  return [value >>> 0, Math.floor(value / TWO_POW_32) >>> 0];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** murmur3's 32-bit hash over 32-bit words, with the word count as its length. */
function murmur3(words: readonly number[], seed: number): number {
  let h = seed | 0;
  for (const word of words) {
    let k = Math.imul(word, 0xcc9e2d51);
    k = rotl(k, 15);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words.length * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
