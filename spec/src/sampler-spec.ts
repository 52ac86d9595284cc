import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  blockShuffle,
  globalShuffle,
  indexList,
  orderOf,
  sequential,
  skipOrder,
  takeOrder,
  type IndexOrder,
  type SamplerSpec,
} from '../../src/sampler.js';

function all(order: IndexOrder): number[] {
  return Array.from({ length: order.length }, (_, position) => order.at(position));
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Cumulative shard ends for shards of these sizes. */
function endsOf(sizes: readonly number[]): number[] {
  let end = 0;
  return sizes.map((size) => (end += size));
}

describe('samplers (issue 11)', () => {
  it('issue 11: sequential reads 0..N-1', () => {
    assert.deepEqual(all(orderOf(sequential(), 5, 3)), [0, 1, 2, 3, 4]);
    assert.deepEqual(all(orderOf(sequential(), 0, 0)), []);
  });

  it('issue 11: globalShuffle is a permutation per (N, seed, epoch), new each epoch, the same for the same pair', () => {
    for (const size of [1, 2, 10, 257, 5000]) {
      for (const seed of [0, 3, 99]) {
        const orders = [0, 1, 2].map((epoch) => all(orderOf(globalShuffle({ seed }), size, epoch)));
        for (const order of orders) assert.deepEqual(sorted(order), range(size));
        assert.deepEqual(all(orderOf(globalShuffle({ seed }), size, 1)), orders[1]);
        if (size > 5) assert.notDeepEqual(orders[0], orders[1]);
      }
    }
  });

  it('issue 11: a sampler is plain data: the JSON round trip gives the same order', () => {
    const specs: SamplerSpec[] = [
      sequential(),
      globalShuffle({ seed: 12 }),
      blockShuffle({ seed: 4, shardsPerBlock: 2 }),
      indexList([3, 1, 1, 0]),
      takeOrder(skipOrder(globalShuffle({ seed: 1 }), 3), 4),
    ];
    const ends = endsOf([3, 4, 5]);
    for (const spec of specs) {
      const copy = JSON.parse(JSON.stringify(spec)) as SamplerSpec;
      assert.deepEqual(all(orderOf(copy, 12, 2, ends)), all(orderOf(spec, 12, 2, ends)));
    }
    // With no seed given, a random one is drawn once and recorded.
    const drawn = globalShuffle();
    assert.equal(drawn.kind, 'shuffle');
    assert.ok(Number.isSafeInteger((drawn as { seed: number }).seed));
  });

  it('issue 11: blockShuffle is a permutation that reads at most shardsPerBlock shards per block, shuffling shards per epoch', () => {
    const sizes = [5, 1, 8, 3, 3, 7, 2, 6, 4];
    const ends = endsOf(sizes);
    const total = ends[ends.length - 1]!;
    const shardOf = (index: number): number => ends.findIndex((end) => index < end);
    for (const shardsPerBlock of [1, 2, 3, 4, 9, 20]) {
      for (const epoch of [0, 1, 2]) {
        const order = all(orderOf(blockShuffle({ seed: 8, shardsPerBlock }), total, epoch, ends));
        assert.deepEqual(sorted(order), range(total), `k=${shardsPerBlock} epoch=${epoch}`);
        // Cut the order into its blocks: each block is whole shards, at most k of them.
        const shards = order.map(shardOf);
        const seen = new Set<number>();
        let blockShards = new Set<number>();
        let left = 0;
        for (const shard of shards) {
          if (left === 0) {
            blockShards = new Set();
            left = 0;
          }
          if (!blockShards.has(shard)) {
            assert.ok(!seen.has(shard), `shard ${shard} is read in two blocks`);
            seen.add(shard);
            blockShards.add(shard);
            left += sizes[shard]!;
            assert.ok(blockShards.size <= shardsPerBlock);
          }
          left--;
        }
      }
    }
    const epoch0 = all(orderOf(blockShuffle({ seed: 8, shardsPerBlock: 2 }), total, 0, ends));
    const epoch1 = all(orderOf(blockShuffle({ seed: 8, shardsPerBlock: 2 }), total, 1, ends));
    assert.notDeepEqual(epoch0, epoch1);
    assert.throws(() => orderOf(blockShuffle({ seed: 1 }), total, 0), InvalidArgumentError);
  });

  it('issue 11: indexList reads the list as given, every epoch, and checks it against the size', () => {
    assert.deepEqual(all(orderOf(indexList([4, 0, 4, 2]), 5, 7)), [4, 0, 4, 2]);
    assert.throws(() => orderOf(indexList([5]), 5, 0), InvalidArgumentError);
    assert.throws(() => indexList([-1]), InvalidArgumentError);
    assert.throws(() => indexList([0.5]), InvalidArgumentError);
  });

  it('issue 11: skipOrder and takeOrder cut the order by position, and compose', () => {
    const full = all(orderOf(globalShuffle({ seed: 5 }), 20, 1));
    assert.deepEqual(all(orderOf(skipOrder(globalShuffle({ seed: 5 }), 15), 20, 1)), full.slice(15));
    assert.deepEqual(all(orderOf(takeOrder(globalShuffle({ seed: 5 }), 4), 20, 1)), full.slice(0, 4));
    assert.deepEqual(all(orderOf(takeOrder(skipOrder(globalShuffle({ seed: 5 }), 3), 4), 20, 1)), full.slice(3, 7));
    assert.deepEqual(all(orderOf(skipOrder(takeOrder(globalShuffle({ seed: 5 }), 10), 3), 20, 1)), full.slice(3, 10));
    assert.deepEqual(all(orderOf(skipOrder(sequential(), 30), 20, 1)), []);
  });

  it("issue 11: an order function (fastai's shuffle_fn) gets (size, epoch), and its indices are checked", () => {
    const reversed = (size: number, epoch: number): number[] => range(size).reverse().slice(epoch);
    assert.deepEqual(all(orderOf(reversed, 5, 1)), [3, 2, 1, 0]);
    assert.throws(() => orderOf(() => [0, 7], 5, 0), InvalidArgumentError);
  });

  it('issue 11: a malformed sampler (from JSON, say) fails typed', () => {
    for (const bad of [
      null,
      { kind: 'nope' },
      { kind: 'shuffle', seed: 0.5 },
      { kind: 'blockShuffle', seed: 1, shardsPerBlock: 0 },
      { kind: 'slice', sampler: sequential(), skip: -1 },
    ]) {
      assert.throws(() => orderOf(bad as SamplerSpec, 10, 0, [10]), InvalidArgumentError);
    }
    assert.throws(() => orderOf(sequential(), 10, -1), InvalidArgumentError);
    assert.throws(() => blockShuffle({ shardsPerBlock: 0 }), InvalidArgumentError);
  });
});
