// Issue 13: a loader state of a fromTFRecord pipeline saves where the chunk holding the first
// record not received begins ([file, byte offset, record]), and a resumed subscription opens that
// file there: the files before it are never opened, and the sequence is the uninterrupted one.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Observable } from 'rxjs';
import { shard } from '../../../operators/shard.js';
import { fileByteSource, LoaderStateError, toLoader, type ByteSource, type LoaderState } from '../../../src/index.js';
import { fromTFRecord } from '../../../sources/tfrecord/index.js';
import { bridgeDir, pytorchData, tempDir } from './paths.js';

const exampleFile = join(pytorchData, 'example.tfrecord');
const sequenceFile = join(pytorchData, 'sequence_example.tfrecord');
const bridgeVal = join(bridgeDir, 'bridge_dataset-val.tfrecord-00000-of-00001');
const tmp = tempDir('bookmark');
after(() => tmp.remove());

/** The byte offset of every frame of a TFRecord file, read from its framing (u64 length, 4-byte CRCs). */
function frameOffsets(path: string): number[] {
  const bytes = readFileSync(path);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.byteLength; at += 12 + Number(bytes.readBigUInt64LE(at)) + 4) offsets.push(at);
  return offsets;
}

/** A file's ByteSource that logs each stream it opens as `name@start`. */
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

/** A record's identity: its file and its bytes' length and first bytes (distinct in these files). */
const id = (record: Uint8Array): string => `${record.byteLength}:${Buffer.from(record.subarray(0, 24)).toString('hex')}`;

/** The state after the consumer received `count` items (`JSON` round-tripped, as saved to disk). */
async function stateAfter<T>(source: Observable<T>, count: number): Promise<{ received: T[]; state: LoaderState }> {
  const loader = toLoader(source);
  const received: T[] = [];
  if (count === 0) return { received, state: JSON.parse(JSON.stringify(loader.state())) as LoaderState };
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

/** The saved position of the only streaming source of a state. */
const atOf = (state: LoaderState): unknown => (state.parts['fromPuller#0@0'] as { at?: unknown }).at;

/** `[file, byte offset, record]` of every record of `files` in reading order (of `[first, end)` of each, when given). */
function positions(files: readonly string[], spans?: readonly (readonly [number, number])[]): [number, number, number][] {
  return files.flatMap((file, index) => {
    const [first, end] = spans?.[index] ?? [0, Infinity];
    return frameOffsets(file)
      .map((offset, record): [number, number, number] => [index, offset, record])
      .slice(first, end);
  });
}

/**
 * The state after `count` items names a chunk start at or before the first item not received, at
 * most a chunk before it (the loader pulls no further than the item in hand, so a chunk starting
 * at item `count` is not read yet), and its bookmark is that item's position. Where chunks end
 * also depends on where reads end (a chunk ends when the bytes read so far do), so the spec checks
 * the bookmark against the item it names rather than predicting the chunking.
 */
function assertAt(state: LoaderState, count: number, all: readonly (readonly [number, number, number])[], perPull: number): number[] {
  const at = atOf(state) as { seq: number; bookmark: number[] };
  assert.ok(at.seq <= Math.min(count, all.length - 1) && at.seq >= count - perPull, `seq ${at.seq} after ${count}`);
  assert.deepEqual(at.bookmark, all[at.seq], `bookmark of item ${at.seq}`);
  return at.bookmark;
}

describe('fromTFRecord bookmarks', () => {
  it('issue 13: a state saves [file, byte offset, record] of the chunk holding the first record not received', async () => {
    const all = positions([exampleFile, sequenceFile]);
    const open = () => fromTFRecord([exampleFile, sequenceFile], { recordsPerPull: 3 });
    // Chunks (the files are smaller than one read): example records 0-2, example 3 (a chunk ends
    // with its file), sequence 0-2, sequence 3.
    const chunkStarts = [0, 3, 4, 7];
    for (const count of [0, 2, 4, 6, 8]) {
      const { state } = await stateAfter(open(), count);
      if (count === 0) {
        assert.deepEqual(state.parts, {}); // nothing read: a resume starts afresh
        continue;
      }
      assertAt(state, count, all, 3);
      assert.ok(chunkStarts.includes((atOf(state) as { seq: number }).seq));
    }
    // The chunk holding the first item not received, when it was read, else the one before.
    assert.deepEqual(atOf((await stateAfter(open(), 2)).state), { seq: 0, bookmark: [0, 0, 0] });
    assert.deepEqual(atOf((await stateAfter(open(), 6)).state), { seq: 4, bookmark: [1, 0, 0] });
  });

  it('issue 13: a resumed read opens the bookmarked file at its offset, never the files before it, and continues the sequence', async () => {
    const files = [exampleFile, bridgeVal, sequenceFile];
    const all = positions(files);
    const open = (log: string[]) =>
      fromTFRecord(
        files.map((file) => logged(file, log)),
        { recordsPerPull: 4 },
      );
    const whole = (await readAll(open([]))).map(id);
    assert.equal(whole.length, 4 + 25 + 4);
    for (const count of [1, 9, 14, 29, 33]) {
      const { received, state } = await stateAfter(open([]), count);
      const [file, offset] = assertAt(state, count, all, 4);
      const log: string[] = [];
      const rest = await readAll(open(log), state);
      assert.deepEqual([...received, ...rest].map(id), whole, `resumed after ${count}`);
      assert.deepEqual(log, [`${files[file!]!}@${offset}`, ...files.slice(file! + 1).map((name) => `${name}@0`)]);
    }
    // Not all from the first file.
    assert.equal(assertAt((await stateAfter(open([]), 14)).state, 14, all, 4)[0], 1);
  });

  it('issue 13: a gzip file cannot seek: the resume inflates it from its start and skips the records before the bookmark, exact', async () => {
    const gz = join(tmp.dir, 'example.tfrecord.gz');
    writeFileSync(gz, gzipSync(readFileSync(exampleFile)));
    const files = [sequenceFile, gz, exampleFile];
    const open = (log: string[]) =>
      fromTFRecord(
        files.map((file) => logged(file, log)),
        { recordsPerPull: 2 },
      );
    const whole = (await readAll(open([]))).map(id);
    const { received, state } = await stateAfter(open([]), 7);
    // Offsets in a compressed file are those of the decompressed stream: the plain file's.
    assert.deepEqual(atOf(state), { seq: 6, bookmark: [1, frameOffsets(exampleFile)[2], 2] });
    assert.equal(received.length, 7);
    const log: string[] = [];
    const rest = await readAll(open(log), state);
    assert.deepEqual([...received, ...rest].map(id), whole);
    assert.deepEqual(log, [`${gz}@0`, `${exampleFile}@0`]);
  });

  it("issue 13: under file-level shard the bookmark names the rank's own files", async () => {
    const files = [exampleFile, bridgeVal, sequenceFile, exampleFile];
    const open = (log: string[]) =>
      fromTFRecord(
        files.map((file) => logged(file, log)),
        { recordsPerPull: 2 },
      ).pipe(shard({ mode: 'file', rank: 1, worldSize: 2 }));
    // Rank 1 reads files 1 and 3: the bridge shard, then example.
    const whole = (await readAll(open([]))).map(id);
    assert.equal(whole.length, 25 + 4);
    const { received, state } = await stateAfter(open([]), 28);
    assert.deepEqual(atOf(state), { seq: 27, bookmark: [1, frameOffsets(exampleFile)[2], 2] });
    const log: string[] = [];
    assert.deepEqual([...received, ...(await readAll(open(log), state))].map(id), whole);
    assert.deepEqual(log, [`${exampleFile}@${frameOffsets(exampleFile)[2]}`]);
  });

  it('issue 13: with lengths, an element shard resumes inside its own record range', async () => {
    const files = [exampleFile, bridgeVal, sequenceFile];
    const open = () => fromTFRecord(files, { lengths: [4, 25, 4], recordsPerPull: 3 }).pipe(shard({ rank: 0, worldSize: 2 }));
    // Rank 0 holds elements [0, 16): example 0-3 and bridge 0-11.
    const whole = (await readAll(open())).map(id);
    assert.equal(whole.length, 16);
    const all = positions(files, [
      [0, 4],
      [0, 12],
    ]);
    for (const count of [5, 13, 15]) {
      const { received, state } = await stateAfter(open(), count);
      assertAt(state, count, all, 3);
      assert.deepEqual([...received, ...(await readAll(open(), state))].map(id), whole, `resumed after ${count}`);
    }
  });

  it('issue 13: a bookmark that names no record ends the resume with RXFEED_ERR_STATE_INVALID naming the file and offset', async () => {
    const files = [exampleFile, sequenceFile];
    const open = () => fromTFRecord(files, { recordsPerPull: 2, lengths: [4, 4] });
    const { state } = await stateAfter(open(), 7);
    const sequence = frameOffsets(sequenceFile);
    const withBookmark = (bookmark: unknown): LoaderState => {
      const part = state.parts['fromPuller#0@0'] as { at: { seq: number } };
      return { ...state, parts: { 'fromPuller#0@0': { ...part, at: { seq: part.at.seq, bookmark } } } };
    };
    const cases: [unknown, RegExp][] = [
      [[2, 0, 0], /names file 2; this subscription reads 2/],
      [[-1, 0, 0], /is not \[file, byte offset, record\]/],
      [[1, 0.5, 0], /is not \[file, byte offset, record\]/],
      [{ file: 1 }, /is not \[file, byte offset, record\]/],
      [[1, sequence[2], 4], new RegExp(`record 4 at byte ${sequence[2]} of .*sequence_example.tfrecord, which reads records \\[0, 4\\)`)],
      [
        [1, sequence[2]! + 1, 2],
        new RegExp(`record 2, byte ${sequence[2]! + 1} of .*sequence_example.tfrecord, but no frame header starts there`),
      ],
      [[1, 1 << 20, 2], new RegExp(`record 2, byte ${1 << 20} of .*sequence_example.tfrecord, but the file ends before it`)],
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

  it('issue 13: a break while the next chunk is being read ends the subscription (the puller kept opening the next file after its close)', async () => {
    const files = [exampleFile, sequenceFile];
    // The third item is the first of the second chunk: the loader pulls the third chunk meanwhile.
    const { received } = await stateAfter(fromTFRecord(files, { recordsPerPull: 2 }), 3);
    assert.equal(received.length, 3);
    assert.equal((await readAll(fromTFRecord(files, { recordsPerPull: 2 }))).length, 8);
  });
});
