import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { concat, lastValueFrom, range, map, Subject, throwError, toArray, type Observable } from 'rxjs';
import { bindContext, Flow, fromItems } from '../../../src/index.js';
import { httpStore } from '../../../sources/objectstore/index.js';
import { RxfeedError } from '../../../src/errors.js';
import {
  fromWebDataset,
  SampleWriteError,
  ShardWriteError,
  toWebDataset,
  type WebDatasetSample,
  type WebDatasetSampleInput,
  type WebDatasetShardWritten,
} from '../../../sources/webdataset/index.js';

const base = mkdtempSync(join(tmpdir(), 'rxfeed-towds-'));
after(() => rmSync(base, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => {
  const dir = join(base, `case-${dirs++}`);
  return dir;
};

const all = <T>(source: Observable<T>): Promise<T[]> => lastValueFrom(source.pipe(toArray()));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Sample `i` with a field of every kind, and the bytes each field must read back as. */
function mixedSample(i: number): { input: WebDatasetSampleInput; expected: Record<string, Uint8Array> } {
  const bin = new Uint8Array(randomBytes(100 + ((i * 397) % 2000)));
  const meta = { index: i, tags: ['a', `t${i}`], nested: { ok: i % 2 === 0 } };
  const key =
    i === 3 ? `long-${'k'.repeat(140)}` : i === 4 ? `ключ-${i}` : i === 5 ? `dir/sub/sample-${i}` : `sample-${String(i).padStart(4, '0')}`;
  return {
    input: {
      __key__: key,
      'seg.bin': bin,
      txt: `text ${i} é`,
      cls: i % 10,
      big: BigInt(i) * 10n ** 20n,
      json: meta,
      __url__: 'ignored',
      _meta: 'ignored',
      skip: undefined,
    },
    expected: {
      'seg.bin': bin,
      txt: utf8(`text ${i} é`),
      cls: utf8(String(i % 10)),
      big: utf8(String(BigInt(i) * 10n ** 20n)),
      json: utf8(JSON.stringify(meta)),
    },
  };
}

/** A read-back sample without `__url__`, as plain field bytes. */
const fieldsOf = (sample: WebDatasetSample): Record<string, unknown> => {
  const { __url__: _url, ...rest } = sample;
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, typeof v === 'string' ? v : new Uint8Array(v)]));
};

/** `tar -tvf` (GNU tar) as [name, size] pairs, in archive order. */
function gnuList(path: string): [string, number][] {
  const out = execFileSync('/usr/bin/tar', ['--utc', '-tvf', path], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const match = /^\S+ \S+ +(\d+) \S+ \S+ (.*)$/.exec(line);
      assert.ok(match, `unexpected tar line ${line}`);
      return [match[2]!, Number(match[1])];
    });
}

describe('toWebDataset', () => {
  it('issue 14: round-trips mixed fields through fromWebDataset, maxCount shards named by the pattern', async () => {
    const dir = freshDir();
    const samples = Array.from({ length: 25 }, (_, i) => mixedSample(i));
    const written = await all(fromItems(samples.map((s) => s.input)).pipe(toWebDataset(join(dir, 'train-%06d.tar'), { maxCount: 10 })));
    const paths = [0, 1, 2].map((n) => join(dir, `train-00000${n}.tar`));
    assert.deepEqual(
      written,
      paths.map((path, n) => ({ shard: n, samples: n < 2 ? 10 : 5, bytes: statSync(path).size, path })),
    );
    assert.deepEqual(readdirSync(dir).sort(), ['train-000000.tar', 'train-000001.tar', 'train-000002.tar']);
    const read = await all(fromWebDataset(paths));
    assert.deepEqual(
      read.map(fieldsOf),
      samples.map((s) => ({ __key__: s.input.__key__, ...s.expected })),
    );
  });

  it('issue 14: GNU tar lists exactly the members, in order with their sizes, and extracts them byte-identical', async () => {
    const dir = freshDir();
    const samples = Array.from({ length: 8 }, (_, i) => mixedSample(i));
    const [shard] = await all(fromItems(samples.map((s) => s.input)).pipe(toWebDataset({ dir, pattern: 'one-%d.tar' })));
    assert.equal(shard!.path, join(dir, 'one-0.tar'));
    const members = samples.flatMap((s) =>
      Object.keys(s.expected)
        .sort()
        .map((field) => [`${s.input.__key__}.${field}`, s.expected[field]!] as const),
    );
    assert.deepEqual(
      gnuList(shard!.path!),
      members.map(([name, data]) => [name, data.byteLength]),
    );
    const out = join(dir, 'extracted');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('/usr/bin/tar', ['-xf', shard!.path!, '-C', out]);
    for (const [name, data] of members) assert.deepEqual(new Uint8Array(readFileSync(join(out, name))), data, name);
    // mtime defaults to the epoch: the same samples give the same bytes.
    const again = await all(fromItems(samples.map((s) => s.input)).pipe(toWebDataset({ dir, pattern: 'two-%d.tar' })));
    assert.deepEqual(readFileSync(again[0]!.path!), readFileSync(shard!.path!));
  });

  it('issue 14: maxSize closes a shard before a sample would pass it; a larger sample goes alone', async () => {
    const dir = freshDir();
    // Each sample: 3000 + 10 bytes of data = (512 + 3072) + (512 + 512) = 4608 tar bytes; two per
    // 10240-byte shard with the 1024-byte end of archive (2 x 4608 + 1024 = 10240).
    const sizes = [3000, 3000, 3000, 20_000, 3000, 3000, 3000];
    const inputs = sizes.map((size, i) => ({ __key__: `s${i}`, bin: new Uint8Array(size).fill(i), cls: 'x'.repeat(10) }));
    const written = await all(fromItems(inputs).pipe(toWebDataset(join(dir, 'sized-%03d.tar'), { maxSize: 10_240 })));
    assert.deepEqual(
      written.map((w) => [w.samples, w.bytes]),
      [
        [2, 10_240],
        [1, 5632],
        [1, 512 + 20_480 + 1024 + 1024],
        [2, 10_240],
        [1, 5632],
      ],
    );
    for (const w of written) assert.equal(statSync(w.path!).size, w.bytes);
    const read = await all(fromWebDataset(written.map((w) => w.path!)));
    assert.deepEqual(
      read.map((s) => [s.__key__, (s.bin as Uint8Array).byteLength, (s.bin as Uint8Array)[0]]),
      sizes.map((size, i) => [`s${i}`, size, i]),
    );
  });

  it('issue 14: maxSize counts the pax headers of long and non-ASCII names exactly', async () => {
    const dir = freshDir();
    // "<key>.bin" of 155 characters needs a pax header (512) and its record (165 bytes, 512):
    // 512 + 512 + 512 + 1024 = 2560 per sample, two per 6144-byte shard with the end of archive.
    const inputs = Array.from({ length: 5 }, (_, i) => ({
      __key__: `${i === 2 ? 'й' : 'k'}${'k'.repeat(149)}${i}`,
      bin: new Uint8Array(1000).fill(i),
    }));
    const written = await all(fromItems(inputs).pipe(toWebDataset(join(dir, 'pax-%d.tar'), { maxSize: 6144 })));
    assert.deepEqual(
      written.map((w) => [w.samples, w.bytes]),
      [
        [2, 6144],
        [2, 6144],
        [1, 2560 + 1024],
      ],
    );
    const read = await all(fromWebDataset(written.map((w) => w.path!)));
    assert.deepEqual(
      read.map((sample) => sample.__key__),
      inputs.map((input) => input.__key__),
    );
  });

  it('issue 14: to a store without upload, each shard is one put of the same bytes a directory gets, and a failure puts nothing more', async () => {
    const puts = new Map<string, Buffer>();
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (chunk: Buffer) => parts.push(chunk));
      req.on('end', () => {
        if (req.method === 'PUT') puts.set(req.url!, Buffer.concat(parts));
        res.writeHead(req.method === 'PUT' ? 201 : 405).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const store = httpStore({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/dav/` });
      const samples = Array.from({ length: 12 }, (_, i) => mixedSample(i).input);
      const stored = await all(fromItems(samples).pipe(toWebDataset({ store, pattern: 'wds/s-%02d.tar' }, { maxCount: 5 })));
      const dir = freshDir();
      const files = await all(fromItems(samples).pipe(toWebDataset({ dir, pattern: 's-%02d.tar' }, { maxCount: 5 })));
      assert.deepEqual(
        stored.map((w) => [w.key, w.samples, w.bytes]),
        files.map((w, n) => [`wds/s-0${n}.tar`, w.samples, w.bytes]),
      );
      assert.deepEqual([...puts.keys()], ['/dav/wds/s-00.tar', '/dav/wds/s-01.tar', '/dav/wds/s-02.tar']);
      files.forEach((w, n) => assert.deepEqual(puts.get(`/dav/wds/s-0${n}.tar`), readFileSync(w.path!)));

      puts.clear();
      const failing = concat(
        fromItems(samples.slice(0, 8)),
        throwError(() => new Error('upstream broke')),
      );
      await assert.rejects(
        lastValueFrom(failing.pipe(toWebDataset({ store, pattern: 'bad/s-%02d.tar' }, { maxCount: 5 }))),
        /upstream broke/,
      );
      assert.deepEqual([...puts.keys()], ['/dav/bad/s-00.tar']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('issue 14: an error in the 2nd shard leaves the 1st shard, emitted, and no partial 2nd shard or temporary file', async () => {
    const dir = freshDir();
    const emitted: WebDatasetShardWritten[] = [];
    const failing = concat(
      range(0, 15).pipe(map((i) => ({ __key__: `k${i}`, bin: new Uint8Array(5000).fill(i) }))),
      throwError(() => new Error('upstream broke')),
    );
    await assert.rejects(
      new Promise((resolve, reject) =>
        failing
          .pipe(toWebDataset(join(dir, 'part-%02d.tar'), { maxCount: 10 }))
          .subscribe({ next: (w) => emitted.push(w), error: reject, complete: () => resolve(undefined) }),
      ),
      /upstream broke/,
    );
    assert.deepEqual(readdirSync(dir), ['part-00.tar']);
    assert.deepEqual(emitted, [{ shard: 0, samples: 10, bytes: statSync(join(dir, 'part-00.tar')).size, path: join(dir, 'part-00.tar') }]);
    assert.equal((await all(fromWebDataset([join(dir, 'part-00.tar')]))).length, 10);
  });

  it('issue 14: unsubscribing mid-shard leaves the completed shards and nothing of the one being written', async () => {
    const dir = freshDir();
    const source = new Subject<WebDatasetSampleInput>();
    const flow = new Flow();
    const emitted: WebDatasetShardWritten[] = [];
    let first!: () => void;
    const firstShard = new Promise<void>((resolve) => (first = resolve));
    const subscription = bindContext({ flow, epoch: 0 }, () =>
      source.pipe(toWebDataset(join(dir, 'cut-%02d.tar'), { maxCount: 4 })).subscribe((w) => {
        emitted.push(w);
        first();
      }),
    );
    for (let i = 0; i < 6; i++) source.next({ __key__: `k${i}`, bin: new Uint8Array(70_000).fill(i) });
    await firstShard;
    subscription.unsubscribe();
    await flow.released();
    assert.deepEqual(readdirSync(dir), ['cut-00.tar']);
    assert.equal(emitted.length, 1);
    assert.equal(emitted[0]!.samples, 4);
  });

  it('issue 14: keys and fields that would not read back as written are SampleWriteErrors naming sample, key and field', async () => {
    const cases: [unknown, string, string | undefined, RegExp][] = [
      [{ __key__: 'a.b', bin: 'x' }, 'RXFEED_ERR_SAMPLE_KEY', undefined, /first dot/],
      [{ bin: 'x' }, 'RXFEED_ERR_SAMPLE_KEY', undefined, /must be a string/],
      [{ __key__: '', bin: 'x' }, 'RXFEED_ERR_SAMPLE_KEY', undefined, /empty/],
      [{ __key__: '/abs', bin: 'x' }, 'RXFEED_ERR_SAMPLE_KEY', undefined, /relative/],
      [{ __key__: 'nul\u0000', bin: 'x' }, 'RXFEED_ERR_SAMPLE_KEY', undefined, /control/],
      [{ __key__: 'k', PNG: 'x' }, 'RXFEED_ERR_SAMPLE_FIELD', 'PNG', /upper-case/],
      [{ __key__: 'k', 'a/b': 'x' }, 'RXFEED_ERR_SAMPLE_FIELD', 'a/b', /not an extension/],
      [{ __key__: 'k', cls: { a: 1 } }, 'RXFEED_ERR_SAMPLE_FIELD', 'cls', /expected a Uint8Array/],
      [{ __key__: 'k', json: new Map() }, 'RXFEED_ERR_SAMPLE_FIELD', 'json', /expected a Uint8Array/],
      [{ __key__: 'k', cls: Number.NaN }, 'RXFEED_ERR_SAMPLE_FIELD', 'cls', /no decimal text/],
      [{ __key__: 'k', json: { big: 1n } }, 'RXFEED_ERR_SAMPLE_FIELD', 'json', /JSON/],
      [{ __key__: 'k', __url__: 'u' }, 'RXFEED_ERR_SAMPLE_FIELD', '(none)', /no field/],
    ];
    for (const [sample, code, field, message] of cases) {
      const dir = freshDir();
      const good = { __key__: 'first', bin: 'ok' };
      await assert.rejects(
        lastValueFrom(fromItems([good, sample as WebDatasetSampleInput]).pipe(toWebDataset(join(dir, 'bad-%d.tar')))),
        (error) => {
          assert.ok(error instanceof SampleWriteError, String(error));
          assert.equal(error.code, code, error.message);
          assert.equal(error.sample, 1);
          assert.equal(error.field, field);
          assert.match(error.message, message);
          return true;
        },
      );
      assert.deepEqual(
        readdirSync(dir).filter((name) => !name.startsWith('.')),
        [],
        JSON.stringify(sample, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
      );
      assert.deepEqual(readdirSync(dir), []);
    }
    await assert.rejects(
      lastValueFrom(
        fromItems([
          { __key__: 'same', a: 'x' },
          { __key__: 'same', b: 'y' },
        ]).pipe(toWebDataset(join(freshDir(), 'dup-%d.tar'))),
      ),
      (error) => error instanceof SampleWriteError && error.code === 'RXFEED_ERR_SAMPLE_KEY' && /merge/.test(error.message),
    );
  });

  it('issue 14: bad patterns and options are InvalidArgumentErrors; a file where the directory should be is a ShardWriteError', async () => {
    for (const pattern of ['out/train.tar', 'out/%s.tar', 'out/%d-%d.tar', 'out/%5d.tar', '']) {
      assert.throws(
        () => toWebDataset(pattern),
        (error) => error instanceof RxfeedError && error.code === 'RXFEED_ERR_INVALID_ARG',
        pattern,
      );
    }
    assert.throws(() => toWebDataset('x-%d.tar', { maxCount: 0 }), /maxCount/);
    assert.throws(() => toWebDataset('x-%d.tar', { maxSize: 1.5 }), /maxSize/);
    assert.throws(() => toWebDataset('x-%d.tar', { mtime: new Date(Number.NaN) }), /mtime/);
    const dir = freshDir();
    execFileSync('mkdir', ['-p', dir]);
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    await assert.rejects(lastValueFrom(fromItems([{ __key__: 'k', bin: 'x' }]).pipe(toWebDataset(join(file, 'x-%d.tar')))), (error) => {
      assert.ok(error instanceof ShardWriteError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_SHARD_WRITE');
      assert.equal(error.shard, join(file, 'x-0.tar'));
      return true;
    });
    assert.deepEqual(readdirSync(dir), ['not-a-dir']);
  });

  it('issue 14: holds the source back to its highWaterMark while writing (the Flow stage)', async () => {
    const dir = freshDir();
    let maxOccupancy = 0;
    const flow = new Flow();
    const items = fromItems(
      function* () {
        for (let i = 0; i < 2000; i++) {
          for (const stage of flow.snapshot().stages) maxOccupancy = Math.max(maxOccupancy, stage.occupancy);
          yield { __key__: `k${i}`, bin: new Uint8Array(1000).fill(i % 256) };
        }
      },
      { chunkSize: 1 },
    );
    const written = await new Promise<WebDatasetShardWritten[]>((resolve, reject) =>
      bindContext({ flow, epoch: 0 }, () =>
        items
          .pipe(toWebDataset(join(dir, 'bp-%02d.tar'), { highWaterMark: 8, maxCount: 500 }), toArray())
          .subscribe({ next: resolve, error: reject }),
      ),
    );
    assert.deepEqual(
      written.map((w) => w.samples),
      [500, 500, 500, 500],
    );
    assert.ok(maxOccupancy <= 8, `occupancy reached ${maxOccupancy}`);
    const keys = (await all(fromWebDataset(written.map((w) => w.path!)))).map((s) => s.__key__);
    assert.deepEqual(
      keys,
      Array.from({ length: 2000 }, (_, i) => `k${i}`),
    );
  });
});
