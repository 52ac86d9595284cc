/**
 * How close an order is to a uniform random shuffle, as two statistics with stated thresholds.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * The shuffle statistics of one order; see {@link shuffleQuality}.
 * @public
 */
export interface ShuffleQuality {
  /** Positions in the order. */
  readonly size: number;
  /**
   * Pearson's correlation of position with index. A uniform shuffle gives about
   * `N(0, 1 / sqrt(size - 1))`; an order that keeps items near their place gives close to 1.
   */
  readonly correlation: number;
  /**
   * The Kolmogorov-Smirnov distance between the order's distribution of displacements
   * `|index - position|` and a uniform shuffle's, which is exactly
   * `P(0) = 1 / N`, `P(d) = 2 (N - d) / N^2` for `d >= 1`.
   */
  readonly displacementKs: number;
  /**
   * The KS distance a uniform shuffle stays under with probability 0.999, `1.949 / sqrt(N)`
   * (Smirnov's asymptotic bound; conservative for a discrete distribution).
   */
  readonly ksCritical: number;
  /** The mean displacement, against `(N^2 - 1) / (3N)` for a uniform shuffle. */
  readonly meanDisplacement: number;
}

/**
 * Measure how far `order` (a permutation of `[0, N)`) is from a uniform random shuffle.
 *
 * @example
 * ```ts
 * import assert from 'node:assert/strict';
 * import { shuffleQuality } from 'rxfeed/testing';
 * import { IndexPermutation } from 'rxfeed';
 * const n = 10_000;
 * const permutation = new IndexPermutation(n, 42);
 * const quality = shuffleQuality(Array.from({ length: n }, (_, p) => permutation.at(p)));
 * assert.ok(quality.displacementKs < quality.ksCritical);
 * ```
 *
 * @param order - The index at each position: a permutation of `[0, order.length)`.
 * @returns The statistics; see {@link ShuffleQuality}.
 * @throws `InvalidArgumentError` (from `rxfeed`) when `order` is not a permutation or has fewer than 2 items.
 * @public
 */
export function shuffleQuality(order: ArrayLike<number>): ShuffleQuality {
  const n = order.length;
  if (n < 2) throw new InvalidArgumentError('shuffleQuality.order', `needs at least 2 positions, got ${n}`);
  const seen = new Uint8Array(n);
  const displacements = new Float64Array(n);
  let sumProducts = 0;
  let sumDisplacement = 0;
  for (let position = 0; position < n; position++) {
    const index = order[position]!;
    if (!Number.isInteger(index) || index < 0 || index >= n || seen[index] === 1) {
      throw new InvalidArgumentError('shuffleQuality.order', `is not a permutation of [0, ${n}): position ${position} holds ${index}`);
    }
    seen[index] = 1;
    sumProducts += position * index;
    displacements[position] = Math.abs(index - position);
    sumDisplacement += displacements[position]!;
  }
  // Positions and indices are both 0..n-1: same mean and variance.
  const mean = (n - 1) / 2;
  const variance = (n * n - 1) / 12;
  const correlation = (sumProducts / n - mean * mean) / variance;

  // Both distributions live on the integers 0..n-1: compare the CDFs at every one of them.
  displacements.sort();
  let ks = 0;
  let below = 0; // displacements <= d
  for (let d = 0; d < n; d++) {
    while (below < n && displacements[below]! <= d) below++;
    const expected = 1 / n + (2 * d * n - d * (d + 1)) / (n * n);
    ks = Math.max(ks, Math.abs(below / n - expected));
  }
  return { size: n, correlation, displacementKs: ks, ksCritical: 1.949 / Math.sqrt(n), meanDisplacement: sumDisplacement / n };
}
