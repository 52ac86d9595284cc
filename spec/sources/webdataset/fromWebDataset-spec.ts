import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { InvalidArgumentError } from '../../../src/errors.js';
import { infoOf } from '../../../src/info.js';
import { toLoader } from '../../../src/loader.js';
import { shard } from '../../../operators/shard.js';
import { zipShards } from '../../../operators/zipShards.js';
import { fileByteSource } from '../../../sources/core/fileByteSource.js';
import type { ObjectStore } from '../../../sources/core/store.js';
import { fromWebDataset, type WebDatasetSample } from '../../../sources/webdataset/index.js';
import { countingSource, packTar, scratchDir, sharedWebDataset, text } from './tarFixtures.js';

const sampleTgz = join(sharedWebDataset, 'sample.tgz');
const testgzTar = join(sharedWebDataset, 'testgz.tar');
const compressedTar = join(sharedWebDataset, 'compressed.tar');

const all = (source: Observable<WebDatasetSample>): Promise<WebDatasetSample[]> => lastValueFrom(source.pipe(toArray()));

/** WebDataset's own key rule (webdataset/tariterators.py `base_plus_ext`), applied to a listing. */
const BASE_PLUS_EXT = /^((?:.*\/|)[^.]+)[.]([^/]*)$/;

/**
 * What `tar` itself lists and extracts: the expected samples, grouped by the WebDataset rule, with
 * each member's bytes read back from a `tar x` extraction.
 */
function expectedSamples(archive: string, tarFlags: string, extracted: string): { key: string; fields: Map<string, Buffer> }[] {
  execFileSync('tar', [`x${tarFlags}f`, archive, '-C', extracted]);
  const names = execFileSync('tar', [`t${tarFlags}f`, archive], { encoding: 'utf8' })
    .split('\n')
    .filter((name) => name !== '' && !name.endsWith('/'));
  const samples: { key: string; fields: Map<string, Buffer> }[] = [];
  for (const name of names) {
    const match = BASE_PLUS_EXT.exec(name);
    assert.ok(match, `listing has a member without extension: ${name}`);
    const [, key, extension] = match;
    if (samples.at(-1)?.key !== key) samples.push({ key: key!, fields: new Map() });
    samples.at(-1)!.fields.set(extension!, readFileSync(join(extracted, name)));
  }
  return samples;
}

function assertSamplesEqual(actual: WebDatasetSample[], expected: ReturnType<typeof expectedSamples>, url: string): void {
  assert.deepEqual(
    actual.map((sample) => sample.__key__),
    expected.map((sample) => sample.key),
  );
  actual.forEach((sample, index) => {
    const want = expected[index]!;
    assert.equal(sample.__url__, url);
    assert.deepEqual(Object.keys(sample).sort(), ['__key__', '__url__', ...want.fields.keys()].sort());
    for (const [extension, bytes] of want.fields) {
      assert.ok(sample[extension] instanceof Uint8Array, `${sample.__key__}.${extension} is bytes`);
      assert.ok(Buffer.from(sample[extension] as Uint8Array).equals(bytes), `${sample.__key__}.${extension} bytes`);
    }
  });
}

describe('fromWebDataset on the shared WebDataset test shards', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());

  it('reads sample.tgz (gzip) as the 90 png+cls samples that tar lists, in order, byte for byte', async () => {
    const expected = expectedSamples(sampleTgz, 'z', scratch.dir);
    assert.equal(expected.length, 90);
    const samples = await all(fromWebDataset(sampleTgz));
    assertSamplesEqual(samples, expected, sampleTgz);
    assert.ok(samples.every((sample) => Object.keys(sample).length === 4 && 'png' in sample && 'cls' in sample));
    // The labels are small decimal integers, the images real PNGs.
    assert.match(text(samples[0]!.cls), /^\d+$/);
    assert.deepEqual([...(samples[0]!.png as Uint8Array).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('reads testgz.tar as 1000 single-member samples whose txt.gz bytes are the members', async () => {
    const expected = expectedSamples(testgzTar, '', scratch.dir);
    assert.equal(expected.length, 1000);
    const samples = await all(fromWebDataset([testgzTar]));
    assertSamplesEqual(samples, expected, testgzTar);
  });

  it('types the expected extensions as bytes (lower-cased, as the fields are)', async () => {
    const samples = await lastValueFrom(fromWebDataset(sampleTgz, { extensions: ['png', 'CLS'] }).pipe(toArray()));
    // Compiles only if `png` and `cls` are typed Uint8Array, not Uint8Array | string.
    const sizes = samples.map((sample): [Uint8Array, Uint8Array] => [sample.png, sample.cls]);
    assert.equal(sizes.length, 90);
    assert.ok(sizes.every(([png, cls]) => png.byteLength > 0 && cls.byteLength > 0));
  });

  it('keeps directories in keys and skips directory members (compressed.tar)', async () => {
    const samples = await all(fromWebDataset(compressedTar));
    assert.deepEqual(
      samples.map((sample) => [sample.__key__, Object.keys(sample).sort()]),
      [1, 2, 3].map((n) => [`compressed/000${n}`, ['__key__', '__url__', 'txt.gz']]),
    );
  });

  it('reads the same bytes whatever the stream chunk size (members spanning many chunks)', async () => {
    const reference = await all(fromWebDataset(sampleTgz));
    for (const chunkSize of [512, 1000, 4096]) {
      const samples = await all(fromWebDataset(sampleTgz, { chunkSize }));
      assert.deepEqual(samples, reference, `chunkSize ${chunkSize}`);
    }
    const plain = await all(fromWebDataset(testgzTar, { chunkSize: 777 }));
    assert.deepEqual(plain, await all(fromWebDataset(testgzTar)));
  });

  it('issue 12: a local shard read into two reused buffers gives every field its own bytes, intact after later chunks', async () => {
    // The same file through a ByteSource that offers only the plain stream (a fresh array per chunk).
    const file = fileByteSource(testgzTar, 777);
    const plainOnly = { name: file.name, size: file.size, read: file.read, stream: file.stream };
    const reference = await all(fromWebDataset([plainOnly]));
    // Kept until the end, while the two buffers are overwritten by some 6,000 later chunks.
    const reused = await all(fromWebDataset(testgzTar, { chunkSize: 777 }));
    assert.equal(reused.length, 1000);
    assert.deepEqual(reused, reference);
    for (const sample of reused) {
      const field = sample['txt.gz'] as Uint8Array;
      assert.equal(field.buffer.byteLength, field.byteLength, `${sample.__key__}: its own ArrayBuffer`);
    }
  });

  it('issue 12: starts the next shard (its first chunk) while one is read, and no further', async () => {
    const first = countingSource(fileByteSource(testgzTar, 4096));
    const second = countingSource(fileByteSource(testgzTar, 4096));
    const third = countingSource(fileByteSource(testgzTar, 4096));
    const iterator = toLoader(fromWebDataset([first, second, third]), { prefetch: 1 })[Symbol.asyncIterator]();
    const sample = await iterator.next();
    assert.equal(sample.value?.__url__, testgzTar);
    // Nothing more is pulled: the next shard's first chunk still comes, and nothing after it.
    const turn = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));
    for (let turns = 0; turns < 1000 && second.chunks === 0; turns++) await turn();
    for (let turns = 0; turns < 50; turns++) await turn();
    assert.equal(second.chunks, 1);
    assert.equal(third.chunks, 0);
    await iterator.return?.();
  });

  it('reads several shards in order, from paths and ByteSources alike', async () => {
    const samples = await all(fromWebDataset([compressedTar, fileByteSource(sampleTgz), compressedTar]));
    assert.equal(samples.length, 3 + 90 + 3);
    assert.deepEqual(
      samples.map((sample) => sample.__url__),
      [...Array(3).fill(compressedTar), ...Array(90).fill(sampleTgz), ...Array(3).fill(compressedTar)],
    );
  });

  it('gives every field its own ArrayBuffer of exactly its size (safe to transfer)', async () => {
    const samples = await all(fromWebDataset(sampleTgz));
    const buffers = new Set<ArrayBufferLike>();
    for (const sample of samples) {
      for (const extension of ['png', 'cls']) {
        const bytes = sample[extension] as Uint8Array;
        assert.equal(bytes.byteOffset, 0);
        assert.equal(bytes.buffer.byteLength, bytes.byteLength);
        buffers.add(bytes.buffer);
      }
    }
    assert.equal(buffers.size, 180);
  });

  it('reads a shard only as fast as the pipeline pulls', async () => {
    // 64 samples of 4 KiB + a label, read 1 KiB at a time: a sample spans 5 chunks.
    const members = [];
    for (let index = 0; index < 64; index++) {
      members.push({ name: `s${String(index).padStart(3, '0')}.bin`, data: new Uint8Array(4096).fill(index) });
      members.push({ name: `s${String(index).padStart(3, '0')}.cls`, data: String(index) });
    }
    const path = scratch.write('paced.tar', await packTar(members));
    const source = countingSource(fileByteSource(path, 1024));
    const perSample = 512 + 4096 + 512 + 512; // two headers, the data, the label padded to a block
    let seen = 0;
    for await (const sample of toLoader(fromWebDataset([source]), { prefetch: 1 })) {
      assert.equal((sample.bin as Uint8Array)[0], seen);
      seen++;
      // Let the pipeline run ahead as far as it may before looking.
      await new Promise((resolve) => setTimeout(resolve, 5));
      // Delivered + one in the loader's queue + one being assembled, plus the chunk in the parser.
      assert.ok(source.bytes <= (seen + 2) * perSample + 1024, `read ${source.bytes} bytes after ${seen} samples`);
      if (seen === 10) break;
    }
    assert.ok(source.bytes < 20 * perSample);
  });

  it('carries files and selectFiles, so shard({ mode: "file" }) gives each slot whole shards', async () => {
    const scratchShards = [0, 1, 2, 3].map((index) =>
      packTar([
        { name: `shard${index}/a.txt`, data: `a${index}` },
        { name: `shard${index}/b.txt`, data: `b${index}` },
      ]).then((bytes) => scratch.write(`files-${index}.tar`, bytes)),
    );
    const paths = await Promise.all(scratchShards);
    const dataset = fromWebDataset(paths);
    assert.deepEqual(infoOf(dataset).files, paths);
    const keysOf = async (rank: number): Promise<string[]> =>
      (await all(dataset.pipe(shard({ mode: 'file', rank, worldSize: 2, workerIndex: 0, numWorkers: 1 })))).map((sample) => sample.__key__);
    // As WebDataset's split_by_node: rank r reads files r, r + 2, ...
    assert.deepEqual(await keysOf(0), ['shard0/a', 'shard0/b', 'shard2/a', 'shard2/b']);
    assert.deepEqual(await keysOf(1), ['shard1/a', 'shard1/b', 'shard3/a', 'shard3/b']);
    const selected = infoOf(dataset).selectFiles!([3, 1]);
    assert.deepEqual(infoOf(selected).files, [paths[3], paths[1]]);
    assert.deepEqual(
      (await all(selected)).map((sample) => text(sample.txt)),
      ['a3', 'b3', 'a1', 'b1'],
    );
  });

  it('composes with zipShards: parallel shards read in lockstep', async () => {
    const pairs = await lastValueFrom(
      zipShards([fromWebDataset(sampleTgz), fromWebDataset(sampleTgz, { chunkSize: 512 })]).pipe(toArray()),
    );
    assert.equal(pairs.length, 90);
    for (const [left, right] of pairs) assert.deepEqual(left, right);
  });
});

describe('fromWebDataset options', () => {
  let scratch: ReturnType<typeof scratchDir>;
  before(() => {
    scratch = scratchDir();
  });
  after(() => scratch.cleanup());

  it('rejects unknown policies and bad chunk sizes at once', () => {
    assert.throws(() => fromWebDataset(sampleTgz, { missing: 'ignore' as 'skip' }), { code: 'RXFEED_ERR_INVALID_ARG' });
    assert.throws(() => fromWebDataset(sampleTgz, { chunkSize: 10 }), { code: 'RXFEED_ERR_INVALID_ARG' });
    assert.throws(() => fromWebDataset(sampleTgz, { shuffleShards: { seed: 0.5 } }), { code: 'RXFEED_ERR_INVALID_ARG' });
    assert.throws(() => fromWebDataset([42 as unknown as string]), { code: 'RXFEED_ERR_INVALID_ARG' });
  });

  it('issue 9.13: wrong-typed options and inputs fail with InvalidArgumentError, never a TypeError', () => {
    const store = { open: () => undefined, list: () => undefined } as unknown as ObjectStore;
    const cases: [string, () => unknown][] = [
      ['fromWebDataset.extensions', () => fromWebDataset(sampleTgz, { extensions: [5] as unknown as string[] })],
      ['fromWebDataset.extensions', () => fromWebDataset(sampleTgz, { extensions: 'png' as unknown as string[] })],
      ['fromWebDataset.options', () => fromWebDataset(sampleTgz, null as unknown as object)],
      ['fromWebDataset.input.keys', () => fromWebDataset({ store, keys: 'a.tar' as unknown as string[] })],
      ['fromWebDataset.input.keys', () => fromWebDataset({ store, keys: [null as unknown as string] })],
      ['fromWebDataset.input.prefix', () => fromWebDataset({ store, prefix: 3 as unknown as string })],
      ['fromWebDataset.input.store', () => fromWebDataset({ store: null as unknown as ObjectStore, keys: [] })],
    ];
    for (const [argument, call] of cases) {
      assert.throws(call, (error: unknown) => error instanceof InvalidArgumentError && error.argument === argument, argument);
    }
  });

  it('issue 10: a malformed http(s) URL fails at once with InvalidArgumentError naming the input, never a TypeError', () => {
    const cases: [string, () => unknown][] = [
      ['fromWebDataset.input[0]', () => fromWebDataset(['http://[::1/shard.tar'])],
      ['fromWebDataset.input[0]', () => fromWebDataset('https://exa mple.com/shard-{0..1}.tar')],
      ['fromWebDataset.input[1]', () => fromWebDataset([sampleTgz, 'http://'])],
    ];
    for (const [argument, call] of cases) {
      assert.throws(call, (error: unknown) => error instanceof InvalidArgumentError && error.argument === argument, argument);
    }
  });

  it('lower-cases extensions and keeps multi-dot extensions whole, as WebDataset does', async () => {
    const path = scratch.write(
      'exts.tar',
      await packTar([
        { name: 'dir/x.SEG.PNG', data: 'seg' },
        { name: 'dir/x.jpg', data: 'jpg' },
        { name: 'noext', data: 'skipped' },
        { name: '.hidden', data: 'skipped' },
        { name: '__meta__', data: 'skipped' },
        { name: 'dir', type: 'directory' },
        { name: 'dir/y.lnk', type: 'symlink', linkname: 'x.jpg' },
        { name: 'dir/y.jpg', data: 'y' },
      ]),
    );
    const samples = await all(fromWebDataset(path));
    assert.deepEqual(
      samples.map((sample) => Object.fromEntries(Object.entries(sample).map(([k, v]) => [k, typeof v === 'string' ? v : text(v)]))),
      [
        { __key__: 'dir/x', __url__: path, 'seg.png': 'seg', jpg: 'jpg' },
        { __key__: 'dir/y', __url__: path, jpg: 'y' },
      ],
    );
  });
});
