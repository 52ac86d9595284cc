// Issue 13: a loader state of a fromWebDataset pipeline saves where the first sample not received
// begins ([shard, tar offset of its first member's first header block]), and a resumed
// subscription reads that shard from there: the shards before it are never opened.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { epochs } from '../../../operators/epochs.js';
import { shard } from '../../../operators/shard.js';
import { fileByteSource, LoaderStateError, toLoader, type ByteSource, type LoaderState } from '../../../src/index.js';
import { fromWebDataset, type WebDatasetSample } from '../../../sources/webdataset/index.js';
import { packTar, scratchDir, sharedWebDataset } from './tarFixtures.js';

const compressedTar = join(sharedWebDataset, 'compressed.tar');
const testgzTar = join(sharedWebDataset, 'testgz.tar');
const sampleTgz = join(sharedWebDataset, 'sample.tgz');
const scratch = scratchDir();
after(() => scratch.cleanup());

/**
 * Where each sample begins, read by Python's tarfile (an independent reader): the `offset` of the
 * first regular member of each run of members sharing a key (tarfile's offset is that of the
 * member's first header block, a pax header included).
 */
function sampleStarts(path: string): number[] {
  const script = [
    'import json, sys, tarfile',
    'starts, last = [], None',
    'for m in tarfile.open(sys.argv[1]):',
    '    if not m.isfile(): continue',
    '    base = m.name.rsplit("/", 1)[-1]',
    '    key = m.name[: len(m.name) - len(base)] + base.split(".", 1)[0]',
    '    if key != last: starts.append(m.offset)',
    '    last = key',
    'print(json.dumps(starts))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' })) as number[];
}

/** A shard's ByteSource that logs each stream it opens as `name@start`. */
function logged(path: string, log: string[]): ByteSource {
  const inner = fileByteSource(path);
  return {
    name: path,
    size: (signal) => inner.size(signal),
    read: (start, end, signal) => inner.read(start, end, signal),
    stream: (start = 0, signal) => {
      log.push(`${path}@${start}`);
      return inner.stream(start, signal);
    },
  };
}

const id = (sample: WebDatasetSample): string => `${sample.__url__}#${sample.__key__}`;

async function stateAfter<T>(source: Observable<T>, count: number): Promise<{ received: T[]; state: LoaderState }> {
  const loader = toLoader(source);
  const received: T[] = [];
  for await (const item of loader) {
    received.push(item);
    if (received.length === count) break;
  }
  return { received, state: JSON.parse(JSON.stringify(loader.state())) as LoaderState };
}

async function readAll<T>(source: Observable<T>, state?: LoaderState): Promise<T[]> {
  const items: T[] = [];
  for await (const item of toLoader(source, { state })) items.push(item);
  return items;
}

const atOf = (state: LoaderState): unknown => (state.parts['fromPuller#0@0'] as { at?: unknown }).at;

/**
 * The state after `count` samples names the first sample not received or, when the loader had
 * not read that one yet (its read-ahead is timing-dependent), the last one received: its bookmark
 * is that sample's `[shard, offset]` (and `'gzip'` for a compressed shard). Returns the bookmark.
 */
function assertAt(state: LoaderState, count: number, starts: readonly (readonly unknown[])[]): unknown[] {
  const at = atOf(state) as { seq: number; bookmark: unknown[] };
  assert.ok(at.seq === count || at.seq === count - 1, `seq ${at.seq} after ${count}`);
  assert.deepEqual(at.bookmark, starts[at.seq], `bookmark of sample ${at.seq}`);
  return at.bookmark;
}

describe('fromWebDataset bookmarks', () => {
  it('issue 13: a state saves [shard, offset] of the first sample not received, the offset tarfile gives its first member', async () => {
    const compressed = sampleStarts(compressedTar);
    const testgz = sampleStarts(testgzTar);
    assert.deepEqual([compressed.length, testgz.length], [3, 1000]);
    const starts = [...compressed.map((offset) => [0, offset]), ...testgz.map((offset) => [1, offset])];
    // The first sample not received, when the loader had read it ahead; else the last one
    // received (a resume reads it again and drops it).
    for (const count of [1, 3, 4, 700]) {
      const { state } = await stateAfter(fromWebDataset([compressedTar, testgzTar]), count);
      assertAt(state, count, starts);
    }
  });

  it('issue 13: a resumed read opens only the bookmarked shard, at its offset, and continues the sequence', async () => {
    const files = [compressedTar, testgzTar, compressedTar];
    const open = (log: string[]) => fromWebDataset(files.map((file) => logged(file, log)));
    const whole = (await readAll(open([]))).map(id);
    assert.equal(whole.length, 1006);
    const starts = files.flatMap((file, shard) => sampleStarts(file).map((offset) => [shard, offset]));
    for (const count of [2, 500, 1004]) {
      const { received, state } = await stateAfter(open([]), count);
      const [shard, offset] = assertAt(state, count, starts) as [number, number];
      const log: string[] = [];
      const rest = await readAll(open(log), state);
      assert.deepEqual([...received, ...rest].map(id), whole, `resumed after ${count}`);
      assert.deepEqual(log, [`${files[shard]!}@${offset}`, ...files.slice(shard + 1).map((file) => `${file}@0`)], `streams after ${count}`);
    }
  });

  it('issue 13: a gzip shard cannot seek: the resume inflates it from its start and skips to the bookmarked sample, exact', async () => {
    const files = [compressedTar, sampleTgz, compressedTar];
    const open = (log: string[]) => fromWebDataset(files.map((file) => logged(file, log)));
    const whole = (await readAll(open([]))).map(id);
    assert.equal(whole.length, 96);
    const starts = files.flatMap((file, shard) =>
      sampleStarts(file).map((offset) => (file === sampleTgz ? [shard, offset, 'gzip'] : [shard, offset])),
    );
    const { received, state } = await stateAfter(open([]), 40);
    assert.equal(assertAt(state, 40, starts)[0], 1);
    const log: string[] = [];
    assert.deepEqual([...received, ...(await readAll(open(log), state))].map(id), whole);
    assert.deepEqual(log, [`${sampleTgz}@0`, `${compressedTar}@0`]);
  });

  it('issue 13: a sample whose first member has a pax name resumes at the pax header, so its key is whole', async () => {
    const long = 'k'.repeat(150);
    const path = scratch.write(
      'long.tar',
      await packTar([
        { name: 'a.txt', data: 'a' },
        { name: `${long}.txt`, data: 'long' },
        { name: `${long}.cls`, data: '1' },
        { name: 'b.txt', data: 'b' },
      ]),
    );
    const starts = sampleStarts(path);
    const { state } = await stateAfter(fromWebDataset([path]), 2);
    // Sample 2 ('b') may have been read ahead; when it was not, the state names the long sample.
    assertAt(
      state,
      2,
      starts.map((offset) => [0, offset]),
    );
    // What a consumer that received only 'a' saves when the long sample was read ahead (by a
    // prefetch, say): the resume starts with the long sample itself, read from its pax header.
    const part = state.parts['fromPuller#0@0'] as Record<string, unknown>;
    const afterA: LoaderState = {
      ...state,
      parts: { 'fromPuller#0@0': { ...part, consumed: { watermark: 1, extras: [] }, at: { seq: 1, bookmark: [0, starts[1]] } } },
    };
    const rest = await readAll(fromWebDataset([path]), afterA);
    assert.deepEqual(
      rest.map((sample) => sample.__key__),
      [long, 'b'],
    );
    assert.equal(new TextDecoder().decode(rest[0]!.cls as Uint8Array), '1');
  });

  it("issue 13: with shuffleShards the bookmark names the shard's position in the epoch's order", async () => {
    const files = [compressedTar, sampleTgz, testgzTar];
    const open = (log: string[]) =>
      fromWebDataset(
        files.map((file) => logged(file, log)),
        { shuffleShards: { seed: 5 } },
      ).pipe(epochs(2));
    const whole = (await readAll(open([]))).map(id);
    assert.equal(whole.length, 2 * 1093);
    // Each epoch's order, as the uninterrupted run read the shards.
    const orderOf = (samples: string[]) => [...new Set(samples.map((sample) => sample.split('#')[0]!))];
    const second = orderOf(whole.slice(1093));
    assert.notDeepEqual(orderOf(whole.slice(0, 1093)), second);
    const { received, state } = await stateAfter(open([]), 1093 + 1000);
    const at = (state.parts['fromPuller#0@1'] as { at: { bookmark: unknown[] } }).at;
    const [shard, offset] = at.bookmark as [number, number];
    const log: string[] = [];
    assert.deepEqual([...received, ...(await readAll(open(log), state))].map(id), whole);
    const seeks = second[shard] !== sampleTgz;
    assert.deepEqual(log, [`${second[shard]!}@${seeks ? offset : 0}`, ...second.slice(shard + 1).map((file) => `${file}@0`)]);
  });

  it("issue 13: under file-level shard the bookmark names the rank's own shards", async () => {
    const files = [compressedTar, sampleTgz, compressedTar, testgzTar];
    const open = (log: string[]) =>
      fromWebDataset(files.map((file) => logged(file, log))).pipe(shard({ mode: 'file', rank: 1, worldSize: 2 }));
    const whole = (await readAll(open([]))).map(id);
    assert.equal(whole.length, 1090);
    const starts = [sampleTgz, testgzTar].flatMap((file, shard) =>
      sampleStarts(file).map((offset) => (file === sampleTgz ? [shard, offset, 'gzip'] : [shard, offset])),
    );
    const { received, state } = await stateAfter(open([]), 95);
    const [, offset] = assertAt(state, 95, starts);
    const log: string[] = [];
    assert.deepEqual([...received, ...(await readAll(open(log), state))].map(id), whole);
    assert.deepEqual(log, [`${testgzTar}@${String(offset)}`]);
  });

  it('issue 13: a bookmark that names no sample ends the resume with RXFEED_ERR_STATE_INVALID naming the shard and offset', async () => {
    const files = [compressedTar, testgzTar, sampleTgz];
    const open = () => fromWebDataset(files);
    const { state } = await stateAfter(open(), 5);
    const withBookmark = (bookmark: unknown): LoaderState => {
      const part = state.parts['fromPuller#0@0'] as { at: { seq: number } };
      return { ...state, parts: { 'fromPuller#0@0': { ...part, at: { seq: part.at.seq, bookmark } } } };
    };
    const cases: [unknown, RegExp][] = [
      [[3, 0], /names shard 3; this subscription reads 3/],
      [['1', 0], /is not \[shard, byte offset\]/],
      [[1, -512], /is not \[shard, byte offset\]/],
      [[1, 0, 'zip'], /is not \[shard, byte offset\]/],
      [[1, 100], /names byte 100 of .*testgz.tar, not on a 512-byte tar block/],
      // Block 1 of testgz.tar is the data of its first member's pax header.
      [[1, 512], /resumes at byte 512 of .*testgz.tar, but reading there fails: .*checksum/],
      [[1, 2048 * 1024 * 1024], /resumes at byte 2147483648 of .*testgz.tar, but the archive ends before it/],
      // A gzip shard read as if plain: its compressed bytes are no tar header.
      [[2, 1024], /resumes at byte 1024 of .*sample.tgz, but reading there fails/],
      [[2, 1536, 'gzip'], /resumes at byte 1536 of .*sample.tgz, but a member's headers start at byte 2048/],
    ];
    for (const [bookmark, message] of cases) {
      await assert.rejects(readAll(open(), withBookmark(bookmark)), (error: unknown) => {
        assert.ok(error instanceof LoaderStateError, `${JSON.stringify(bookmark)}: ${String(error)}`);
        assert.equal(error.code, 'RXFEED_ERR_STATE_INVALID');
        assert.match(error.message, message);
        return true;
      });
    }
  });
});
