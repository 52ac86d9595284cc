import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedLru } from '../../../sources/core/sharedLru.js';

/** A shard loader that counts its loads (answering after a macrotask); `fail` rejects the next one. */
function shard(name: string): { name: string; loads: number; fail: boolean; load: (signal: AbortSignal) => Promise<string[]> } {
  const loader = {
    name,
    loads: 0,
    fail: false,
    load: (signal: AbortSignal) => {
      loader.loads++;
      if (loader.fail) {
        loader.fail = false;
        return Promise.reject(new Error(`${name} failed`));
      }
      return new Promise<string[]>((resolve, reject) => {
        const timer = setImmediate(() => resolve([`${name}0`, `${name}1`, `${name}2`]));
        signal.addEventListener('abort', () => {
          clearImmediate(timer);
          reject(signal.reason);
        });
      });
    },
  };
  return loader;
}

const use = (cache: SharedLru<string[]>, loader: ReturnType<typeof shard>, at = 0, signal?: AbortSignal): Promise<string> =>
  cache.use(loader.name, loader.load, (samples) => samples[at]!, signal);

describe('SharedLru (issue 11: shared, pinned values: file handles, whole shards)', () => {
  it('issue 11: loads a shard once for all the reads waiting on it', async () => {
    const cache = new SharedLru<string[]>(1);
    const a = shard('a');
    assert.deepEqual(await Promise.all([use(cache, a, 0), use(cache, a, 2)]), ['a0', 'a2']);
    assert.equal(await use(cache, a, 1), 'a1');
    assert.equal(a.loads, 1);
  });

  it('issue 11: keeps at most maxShards idle shards, least recently used evicted first', async () => {
    const cache = new SharedLru<string[]>(2);
    const [a, b, c] = [shard('a'), shard('b'), shard('c')];
    await use(cache, a);
    await use(cache, b);
    await use(cache, a); // a is now the most recent
    await use(cache, c); // evicts b
    await use(cache, a);
    await use(cache, b);
    assert.deepEqual([a.loads, b.loads, c.loads], [1, 2, 1]);
  });

  it('issue 11: a shard being read is never evicted, and a failed load is tried again', async () => {
    const cache = new SharedLru<string[]>(1);
    const [a, b] = [shard('a'), shard('b')];
    // b loads while a's read is pending: both stay until then; after, the idle budget of 1 applies.
    await Promise.all([use(cache, a), use(cache, b)]);
    await use(cache, b);
    assert.equal(b.loads, 1);
    const fresh = new SharedLru<string[]>(1);
    a.fail = true;
    await assert.rejects(use(fresh, a), /a failed/);
    assert.equal(await use(fresh, a, 2), 'a2');
  });

  it("issue 11: a reader's abort leaves the shared load alone; clear aborts loads and drops everything", async () => {
    const cache = new SharedLru<string[]>(1);
    const a = shard('a');
    const abort = new AbortController();
    const aborted = use(cache, a, 0, abort.signal);
    const other = use(cache, a, 1);
    abort.abort(new Error('left'));
    await assert.rejects(aborted, /left/);
    assert.equal(await other, 'a1');
    const pending = use(cache, shard('b'));
    await cache.clear();
    await assert.rejects(pending);
    await use(cache, a);
    assert.equal(a.loads, 2);
  });

  it('issue 11: with a release (file handles), evicted values are released before the operation answers, values in use only when it ends, and clear releases all', async () => {
    const released: string[] = [];
    const cache = new SharedLru<string>(1, (value) => {
      released.push(value);
    });
    const load = (name: string) => () => Promise.resolve(name);
    await cache.use('a', load('a'), () => undefined);
    await cache.use('b', load('b'), () => undefined); // two idle, budget 1: a goes
    assert.deepEqual(released, ['a']);
    let finish!: () => void;
    const running = cache.use('b', load('b'), () => new Promise<void>((resolve) => (finish = resolve)));
    await new Promise((resolve) => setImmediate(resolve));
    const clearing = cache.clear();
    assert.deepEqual(released, ['a'], 'b is in use: not released under its operation');
    finish();
    await running;
    await clearing;
    assert.deepEqual(released, ['a', 'b']);
    assert.equal(cache.size, 0);
  });
});
