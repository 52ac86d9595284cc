import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, take, toArray } from 'rxjs';
import { toLoader } from '../../../src/loader.js';
import { deriveSeed, permutation } from '../../../src/random.js';
import { epochs } from '../../../operators/epochs.js';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { gzip, packTar, scratchDir, sharedWebDataset } from './tarFixtures.js';

/** File descriptors open in this process now (the listing's own descriptor counts every time). */
const openFds = (): number => readdirSync('/proc/self/fd').length;

/**
 * Wait until the descriptor count is back to `expected`: a close started by a synchronous
 * unsubscribe (take, an error) finishes on the I/O thread a moment later. Fails after 5 s.
 */
async function fdsBackTo(expected: number): Promise<void> {
  for (let waited = 0; openFds() !== expected && waited < 5000; waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(openFds(), expected);
}

describe('fromWebDataset resources', () => {
  const sampleTgz = join(sharedWebDataset, 'sample.tgz');
  const testgzTar = join(sharedWebDataset, 'testgz.tar');

  it('closes the shard file when a for-await loop breaks, before the break returns', async () => {
    // Shards of many 4 KiB chunks: a small one can be read to its end (and closed) before its first
    // sample comes out, the inflater buffering ahead. So the gzip case is testgz.tar gzipped (913 KB).
    const scratch = scratchDir();
    after(() => scratch.cleanup());
    const bigTgz = scratch.write('testgz.tgz', gzip(readFileSync(testgzTar)));
    for (const path of [testgzTar, bigTgz]) {
      const before = openFds();
      let seen = 0;
      for await (const sample of toLoader(fromWebDataset([path, path], { chunkSize: 4096 }), { prefetch: 2 })) {
        assert.ok(sample.__key__.length > 0);
        // The shard read is open, and (issue 12) the next one may be too, started ahead.
        if (++seen === 1) assert.ok([before + 1, before + 2].includes(openFds()), `${path}: the shard is open while read`);
        if (seen === 5) break;
      }
      assert.equal(openFds(), before, `${path}: closed after break`);
    }
  });

  it('closes the shard file on take(n) and on completion', async () => {
    const before = openFds();
    const five = await lastValueFrom(fromWebDataset(testgzTar).pipe(take(5), toArray()));
    assert.equal(five.length, 5);
    await fdsBackTo(before);
    const everything = await lastValueFrom(fromWebDataset([sampleTgz, testgzTar]).pipe(toArray()));
    assert.equal(everything.length, 1090);
    assert.equal(openFds(), before);
  });

  it('closes the shard file when the shard fails', async () => {
    const scratch = scratchDir();
    try {
      const tarBytes = await packTar([
        { name: 'a.bin', data: new Uint8Array(3000) },
        { name: 'b.bin', data: new Uint8Array(3000) },
      ]);
      const path = scratch.write('cut.tar', tarBytes.subarray(0, 4000));
      const before = openFds();
      const loader = toLoader(fromWebDataset(path, { chunkSize: 1024 }));
      await assert.rejects(
        async () => {
          for await (const sample of loader) assert.ok(sample);
        },
        { code: 'RXFEED_ERR_TRUNCATED_SHARD' },
      );
      await fdsBackTo(before);
    } finally {
      scratch.cleanup();
    }
  });
});

describe('fromWebDataset shard-order shuffle', () => {
  const scratch = scratchDir();
  const paths: string[] = [];
  before(async () => {
    for (let index = 0; index < 8; index++) {
      const tarBytes = await packTar([
        { name: `k${index}a.txt`, data: `${index}` },
        { name: `k${index}b.txt`, data: `${index}` },
      ]);
      // Odd shards gzip-compressed: the order does not depend on the format.
      paths.push(scratch.write(`order-${index}.${index % 2 ? 'tgz' : 'tar'}`, index % 2 ? gzip(tarBytes) : tarBytes));
    }
  });
  after(() => scratch.cleanup());

  /** The shard order of each epoch, read through the `epochs` operator. */
  async function shardOrders(seed: number | undefined, count: number, start = 0): Promise<number[][]> {
    const source = fromWebDataset(paths, seed === undefined ? {} : { shuffleShards: { seed } });
    const samples = await lastValueFrom(source.pipe(epochs(count, { start }), toArray()));
    const orders: number[][] = [];
    samples.forEach((sample, index) => {
      const epoch = Math.floor(index / (2 * paths.length));
      orders[epoch] ??= [];
      if (index % 2 === 0) orders[epoch]!.push(paths.indexOf(sample.__url__));
    });
    return orders;
  }

  it('follows the seeded permutation of (seed, epoch), the same on every read', async () => {
    const orders = await shardOrders(1234, 3);
    const expected = [0, 1, 2].map((epoch) => Array.from(permutation(paths.length, deriveSeed(1234, epoch))));
    assert.deepEqual(orders, expected);
    assert.deepEqual(await shardOrders(1234, 3), orders);
    // Resuming at epoch 2 gives epoch 2's order.
    assert.deepEqual(await shardOrders(1234, 1, 2), [expected[2]]);
  });

  it('changes with the epoch and with the seed, and keeps samples in shard order', async () => {
    const [first, second] = await shardOrders(1234, 2);
    assert.notDeepEqual(first, second);
    for (const order of [first!, second!]) assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    const [otherSeed] = await shardOrders(99, 1);
    assert.notDeepEqual(otherSeed, first);
    const samples = await lastValueFrom(fromWebDataset(paths, { shuffleShards: { seed: 1234 } }).pipe(toArray()));
    for (let index = 0; index < samples.length; index += 2) {
      assert.deepEqual([samples[index]!.__key__.at(-1), samples[index + 1]!.__key__.at(-1)], ['a', 'b']);
    }
  });

  it('reads the given order in every epoch without shuffleShards', async () => {
    assert.deepEqual(await shardOrders(undefined, 2), [
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3, 4, 5, 6, 7],
    ]);
  });
});
