import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ByteSource } from '../../../sources/core/byteSource.js';
import { ShardCache } from '../../../sources/core/shardCache.js';

/** A shard of `length` bytes (byte i = i % 256) that counts its reads; `fail` rejects the next one. */
function shard(name: string, length = 64): ByteSource & { reads: number; fail: boolean } {
  const source = {
    name,
    reads: 0,
    fail: false,
    size: () => Promise.resolve(length),
    read: (start: number, end: number) => {
      source.reads++;
      if (source.fail) {
        source.fail = false;
        return Promise.reject(new Error(`${name} failed`));
      }
      return new Promise<Uint8Array>((resolve) =>
        setImmediate(() => resolve(Uint8Array.from({ length: Math.min(end, length) - start }, (_, i) => (start + i) % 256))),
      );
    },
    stream: async function* () {},
  };
  return source;
}

describe('ShardCache (issue 11: whole shards for block shuffles over stores)', () => {
  it('issue 11: fetches a shard once for many reads, and answers views of the ranges', async () => {
    const cache = new ShardCache(1);
    const a = shard('a');
    const [first, second] = await Promise.all([cache.over(a, 64).read(2, 5), cache.over(a, 64).read(10, 12)]);
    assert.deepEqual([...first], [2, 3, 4]);
    assert.deepEqual([...second], [10, 11]);
    assert.equal(a.reads, 1);
    assert.equal(first.buffer, second.buffer, 'views of the one cached shard');
  });

  it('issue 11: keeps at most maxShards idle shards, least recently used evicted first', async () => {
    const cache = new ShardCache(2);
    const [a, b, c] = [shard('a'), shard('b'), shard('c')];
    await cache.over(a, 64).read(0, 1);
    await cache.over(b, 64).read(0, 1);
    await cache.over(a, 64).read(0, 1); // a is now the most recent
    await cache.over(c, 64).read(0, 1); // evicts b
    await cache.over(a, 64).read(0, 1);
    await cache.over(b, 64).read(0, 1);
    assert.deepEqual([a.reads, b.reads, c.reads], [1, 2, 1]);
  });

  it('issue 11: a shard being read is never evicted, and a failed fetch is tried again', async () => {
    const cache = new ShardCache(1);
    const [a, b] = [shard('a'), shard('b')];
    // b is fetched while a's read is pending: both stay, then the idle budget of 1 applies.
    await Promise.all([cache.over(a, 64).read(0, 1), cache.over(b, 64).read(0, 1)]);
    await cache.over(b, 64).read(0, 1);
    assert.equal(b.reads, 1);
    a.fail = true;
    const fresh = new ShardCache(1);
    await assert.rejects(fresh.over(a, 64).read(0, 1), /a failed/);
    assert.deepEqual([...(await fresh.over(a, 64).read(5, 6))], [5]);
  });

  it("issue 11: a reader's abort leaves the shared fetch alone; clear drops everything", async () => {
    const cache = new ShardCache(1);
    const a = shard('a');
    const abort = new AbortController();
    const aborted = cache.over(a, 64).read(0, 1, abort.signal);
    const other = cache.over(a, 64).read(1, 2);
    abort.abort(new Error('left'));
    await assert.rejects(aborted, /left/);
    assert.deepEqual([...(await other)], [1]);
    cache.clear();
    await cache.over(a, 64).read(0, 1);
    assert.equal(a.reads, 2);
  });
});
