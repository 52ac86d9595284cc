import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { InvalidArgumentError } from '../../../src/errors.js';
import type { ByteSource } from '../../../sources/core/byteSource.js';
import { fileByteSource, FileReadError } from '../../../sources/core/fileByteSource.js';
import { permutation } from '../../../src/random.js';
import { DatasetClosedError } from '../../../sources/core/randomAccess.js';
import {
  CompressedShardError,
  CorruptShardError,
  fromWebDataset,
  SampleFieldError,
  SampleIndexError,
  StaleIndexError,
  webDatasetIndexed,
  widsDescriptor,
  type WebDatasetIndexedOptions,
  type WebDatasetInput,
  type WebDatasetSample,
} from '../../../sources/webdataset/index.js';
import { packTar, scratchDir, sharedWebDataset, type Member } from './tarFixtures.js';
import { readShuffled } from '../../src/readShuffled.js';

const testgzTar = join(sharedWebDataset, 'testgz.tar');
const compressedTar = join(sharedWebDataset, 'compressed.tar');

const sequential = (input: WebDatasetInput, options: WebDatasetIndexedOptions = {}): Promise<WebDatasetSample[]> =>
  lastValueFrom(fromWebDataset(input, options).pipe(toArray()));

/** A ByteSource that counts its range reads. */
function countingReads(inner: ByteSource): ByteSource & { readonly reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    name: inner.name,
    size: (s) => inner.size(s),
    read: (a, b, s) => (reads.push([a, b]), inner.read(a, b, s)),
    stream: (a, s) => inner.stream(a, s),
    reads,
  };
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('webDatasetIndexed', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());

  /** Members with directories, a long name, a meta member and a sample lacking `.cls` between ordinary samples. */
  const crafted: Member[] = [
    { name: 'train/', type: 'directory' },
    { name: 'train/a.png', data: 'A-png' },
    { name: 'train/a.cls', data: '1' },
    { name: '__meta__', data: 'not a sample' },
    { name: `train/${'b'.repeat(150)}.png`, data: new Uint8Array(70_000).fill(7) },
    { name: `train/${'b'.repeat(150)}.cls`, data: '2' },
    { name: 'train/c.png', data: 'C-png, no label' },
    { name: 'train/d.png', data: new Uint8Array(600).fill(9) },
    { name: 'train/sub/', type: 'directory' },
    { name: 'train/d.cls', data: '4' },
    { name: 'train/e.seg.png', data: 'E' },
    { name: 'train/e.cls', data: '5' },
  ];

  it('issue 11: random reads of the shared shards equal fromWebDataset item for item', async () => {
    const shards = [testgzTar, compressedTar];
    const dataset = await webDatasetIndexed(shards);
    assert.equal(dataset.size, 1003);
    assert.deepEqual(dataset.layout, { shardEnds: [1000, 1003], shardNames: shards });
    assert.deepEqual(await readShuffled(dataset, 11), await sequential(shards));
    await dataset.close();
  });

  for (const missing of ['skip', 'zero'] as const) {
    it(`issue 11: a crafted shard (directories, long names, meta members) under missing '${missing}' equals fromWebDataset`, async () => {
      const path = scratch.write(`crafted-${missing}.tar`, await packTar(crafted));
      const options = { extensions: ['png', 'cls'], missing };
      const dataset = await webDatasetIndexed(path, options);
      const expected = await sequential(path, options);
      assert.equal(dataset.size, missing === 'skip' ? 3 : 5); // 'skip' drops c (no .cls) and e (.seg.png, no .png)
      assert.deepEqual(await readShuffled(dataset, 3), expected);
      // Asked twice and out of order: answered in the order asked.
      assert.deepEqual(await dataset.read([2, 0, 2]), [expected[2], expected[0], expected[2]]);
    });
  }

  it("issue 11: missing 'error' fails at creation as the stream fails, naming the sample", async () => {
    const path = scratch.write('crafted-error.tar', await packTar(crafted));
    await assert.rejects(webDatasetIndexed(path, { extensions: ['png', 'cls'] }), (error: unknown) => {
      assert.ok(error instanceof SampleFieldError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_MISSING_FIELD');
      assert.equal(error.key, 'train/c');
      return true;
    });
  });

  it('issue 11: a run of neighbouring samples of one shard is ONE range read', async () => {
    const counted = countingReads(fileByteSource(testgzTar));
    const dataset = await webDatasetIndexed([counted]);
    assert.equal(counted.reads.length, 0); // the scan of a ByteSource streams it
    const samples = await dataset.read([12, 10, 11, 500]);
    const keys = (await sequential(testgzTar)).map((sample) => sample.__key__);
    assert.equal(counted.reads.length, 2);
    assert.deepEqual(
      samples.map((sample) => sample.__key__),
      [12, 10, 11, 500].map((index) => keys[index]),
    );
  });

  it('issue 11: saveIndex writes a sidecar that the next dataset reads instead of scanning', async () => {
    const path = scratch.write('saved.tar', readFileSync(testgzTar));
    const first = await webDatasetIndexed(path, { saveIndex: true });
    const sidecar = `${path}.idx.json`;
    assert.ok(existsSync(sidecar));
    assert.deepEqual(
      readdirSync(scratch.dir).filter((name) => name.endsWith('.tmp')),
      [],
    );
    const bytesPerSample = statSync(sidecar).size / first.size;
    assert.ok(bytesPerSample < 80, `sidecar holds ${bytesPerSample} bytes per sample`);
    // Proof the sidecar is what the second dataset uses: rename its keys, and the reads find the shard disagrees.
    const index = JSON.parse(readFileSync(sidecar, 'utf8')) as { samples: [string, number, number, number][] };
    const second = await webDatasetIndexed(path);
    assert.deepEqual(await readShuffled(second, 5), await sequential(path));
    index.samples[7]![0] = 'renamed';
    writeFileSync(sidecar, JSON.stringify(index));
    const stale = await webDatasetIndexed(path);
    await assert.rejects(
      async () => stale.read([7]),
      (error: unknown) => {
        assert.ok(error instanceof StaleIndexError, String(error));
        assert.equal(error.shard, path);
        assert.equal(error.offset, index.samples[7]![1]);
        return true;
      },
    );
  });

  it('issue 11: a shard rewritten after its sidecar was saved fails typed, naming shard and offset', async () => {
    const members = (prefix: string): Member[] => ['0', '1', '2'].map((n) => ({ name: `${prefix}${n}.txt`, data: `text ${n}` }));
    const path = scratch.write('rewritten.tar', await packTar(members('a')));
    await webDatasetIndexed(path, { saveIndex: true });
    writeFileSync(path, await packTar(members('b'))); // same size, other keys
    const dataset = await webDatasetIndexed(path);
    await assert.rejects(
      async () => dataset.read([1]),
      (error: unknown) => {
        assert.ok(error instanceof StaleIndexError, String(error));
        assert.equal(error.code, 'RXFEED_ERR_STALE_INDEX');
        assert.equal(error.offset, 1024);
        assert.match(error.message, /expected sample 'a1', found sample 'b1'/);
        return true;
      },
    );
    // The same when the whole shard is loaded into the cache: its first sample already disagrees.
    const cached = await webDatasetIndexed(path, { cacheShards: 1 });
    await assert.rejects(
      async () => cached.read([2]),
      (error: unknown) => {
        assert.ok(error instanceof StaleIndexError, String(error));
        assert.equal(error.offset, 0);
        assert.match(error.message, /expected sample 'a0', found sample 'b0'/);
        return true;
      },
    );
    writeFileSync(path, await packTar([...members('a'), { name: 'x.txt', data: 'more' }])); // another size
    await assert.rejects(webDatasetIndexed(path), StaleIndexError);
  });

  it('issue 11: a sidecar range that lands inside member data fails typed at read time, naming the offset in the shard', async () => {
    const path = scratch.write('inside.tar', await packTar([{ name: 'k0.bin', data: new Uint8Array(2000).fill(0x78) }]));
    const shardBytes = statSync(path).size;
    const samples = [['k0', 1024, 2048, 0]]; // passes every check of the file alone: block-aligned, inside the shard
    writeFileSync(
      `${path}.idx.json`,
      JSON.stringify({ format: 'rxfeed-webdataset-index', version: 1, shardBytes, fieldSets: ['bin'], samples }),
    );
    const dataset = await webDatasetIndexed(path);
    await assert.rejects(
      async () => dataset.read([0]),
      (error: unknown) => {
        assert.ok(error instanceof StaleIndexError, String(error));
        assert.equal(error.shard, path);
        assert.equal(error.offset, 1024);
        assert.ok(error.cause instanceof CorruptShardError);
        return true;
      },
    );
  });

  it('issue 11: a hostile sidecar fails typed, naming the file and the entry', async () => {
    const path = scratch.write('hostile.tar', await packTar([0, 1, 2].map((n) => ({ name: `k${n}.txt`, data: 'x' }))));
    const shardBytes = statSync(path).size;
    const cases: [unknown, string][] = [
      [{ format: 'other' }, ''],
      [{ format: 'rxfeed-webdataset-index', version: 1, shardBytes, fieldSets: ['txt'], samples: {} }, 'samples'],
      [{ format: 'rxfeed-webdataset-index', version: 1, shardBytes, fieldSets: [7], samples: [] }, 'fieldSets'],
      // Out of order, overlapping, past the shard, off a block boundary, shorter than a header, unknown field set.
      ...(
        [
          [
            ['k0', 1024, 2048, 0],
            ['k1', 0, 1024, 0],
          ],
          [
            ['k0', 0, 2048, 0],
            ['k1', 1024, 2048, 0],
          ],
          [['k0', 0, shardBytes + 512, 0]],
          [['k0', 0, 1000, 0]],
          [['k0', 512, 512, 0]],
          [['k0', 0, 1024, 3]],
          [['', 0, 1024, 0]],
          [['k0', 0, 1024]],
        ] as unknown[][][]
      ).map((samples): [unknown, string] => [
        { format: 'rxfeed-webdataset-index', version: 1, shardBytes, fieldSets: ['txt'], samples },
        `samples[${samples.length - 1}]`,
      ]),
    ];
    for (const [sidecar, entry] of cases) {
      writeFileSync(`${path}.idx.json`, JSON.stringify(sidecar));
      await assert.rejects(webDatasetIndexed(path), (error: unknown) => {
        assert.ok(error instanceof SampleIndexError, `${JSON.stringify(sidecar)}: ${String(error)}`);
        assert.equal(error.file, `${path}.idx.json`);
        assert.equal(error.entry, entry, JSON.stringify(sidecar));
        return true;
      });
    }
    writeFileSync(`${path}.idx.json`, '{"format": ');
    await assert.rejects(webDatasetIndexed(path), SampleIndexError);
  });

  it('issue 11: a wids descriptor round trip gives the same samples, the layout before any scan', async () => {
    const copy = scratch.write('wids-0.tar', readFileSync(compressedTar));
    const indexed = await webDatasetIndexed([testgzTar, copy]);
    const descriptor = widsDescriptor(indexed.layout!, { name: 'round-trip' });
    assert.deepEqual(descriptor, {
      wids_version: 1,
      name: 'round-trip',
      shardlist: [
        { url: testgzTar, nsamples: 1000 },
        { url: copy, nsamples: 3 },
      ],
    });
    // Relative to the descriptor's folder, as wids resolves them.
    const file = scratch.write(
      'dataset.json',
      new TextEncoder().encode(JSON.stringify({ ...descriptor, shardlist: [descriptor.shardlist[0], { url: 'wids-0.tar', nsamples: 3 }] })),
    );
    const fromWids = await webDatasetIndexed({ wids: file });
    assert.deepEqual(fromWids.layout, indexed.layout);
    assert.deepEqual(await readShuffled(fromWids, 9), await sequential([testgzTar, copy]));
    // No shard is read before one of its samples is: a descriptor naming a missing shard opens fine.
    const missing = await webDatasetIndexed({ wids: { shardlist: [{ url: join(scratch.dir, 'absent.tar'), nsamples: 4 }] } });
    assert.equal(missing.size, 4);
    await assert.rejects(async () => missing.read([0]), FileReadError);
  });

  it('issue 11: a wids nsamples that the scan disagrees with fails typed; a malformed descriptor names the entry', async () => {
    const wrong = await webDatasetIndexed({ wids: { wids_version: 1, shardlist: [{ url: compressedTar, nsamples: 4 }] } });
    assert.equal(wrong.size, 4);
    await assert.rejects(
      async () => wrong.read([0]),
      (error: unknown) => {
        assert.ok(error instanceof StaleIndexError, String(error));
        assert.equal(error.shard, compressedTar);
        return true;
      },
    );
    const bad: [unknown, string][] = [
      [{ shardlist: [] }, 'shardlist'],
      [{ shardlist: [{ url: compressedTar, nsamples: -1 }] }, 'shardlist[0].nsamples'],
      [{ shardlist: [{ url: compressedTar, nsamples: 3 }, { nsamples: 3 }] }, 'shardlist[1].url'],
      [{ wids_version: 2, shardlist: [{ url: compressedTar, nsamples: 3 }] }, 'wids_version'],
      [{ shardlist: [{ url: compressedTar, nsamples: 3 }], datasets: [{ source_url: 'x.json' }] }, 'datasets'],
    ];
    for (const [descriptor, entry] of bad) {
      await assert.rejects(webDatasetIndexed({ wids: descriptor as never }), (error: unknown) => {
        assert.ok(error instanceof SampleIndexError, String(error));
        assert.equal(error.file, '(descriptor)');
        assert.equal(error.entry, entry);
        return true;
      });
    }
    const file = scratch.write(
      'versionless.json',
      new TextEncoder().encode(JSON.stringify({ shardlist: [{ url: compressedTar, nsamples: 3 }] })),
    );
    await assert.rejects(
      webDatasetIndexed({ wids: file }),
      (error: unknown) => error instanceof SampleIndexError && error.entry === 'wids_version',
    );
  });

  it('issue 11: a gzip-compressed shard fails typed: it cannot be read by range', async () => {
    const sampleTgz = join(sharedWebDataset, 'sample.tgz');
    await assert.rejects(webDatasetIndexed(sampleTgz), (error: unknown) => {
      assert.ok(error instanceof CompressedShardError, String(error));
      assert.equal(error.shard, sampleTgz);
      return true;
    });
  });

  it('issue 11: close() leaves no file open; reads after it fail with DatasetClosedError', async () => {
    const before = openFds();
    const dataset = await webDatasetIndexed([testgzTar, compressedTar]);
    await Promise.all([dataset.read(Array.from(permutation(1003, 1))), dataset.read([0, 999, 1002])]);
    await dataset.close();
    await dataset.close();
    assert.equal(openFds(), before);
    await assert.rejects(Promise.resolve(dataset.read([0])), DatasetClosedError);
  });

  it('issue 11: bad indices and options fail with InvalidArgumentError before anything is read', async () => {
    const dataset = await webDatasetIndexed(compressedTar);
    for (const indices of [[3], [-1], [0.5], 'x']) {
      await assert.rejects(
        Promise.resolve().then(() => dataset.read(indices as never)),
        InvalidArgumentError,
      );
    }
    await assert.rejects(webDatasetIndexed(compressedTar, { concurrency: 0 }), InvalidArgumentError);
    await assert.rejects(webDatasetIndexed(compressedTar, { missing: 'maybe' as never }), InvalidArgumentError);
    await assert.rejects(webDatasetIndexed(42 as never), InvalidArgumentError);
  });
});
