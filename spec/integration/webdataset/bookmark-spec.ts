// Issue 13 against nginx (scripts/start-nginx.sh, ../shared/data/ at /shared/): a loader state of a
// pipeline reading shards and TFRecord files over HTTP resumes with a ranged read from the
// bookmarked offset, the bytes before it never fetched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { shuffleBuffer } from '../../../operators/shuffleBuffer.js';
import type { ByteSource } from '../../../sources/core/byteSource.js';
import { httpStore } from '../../../sources/objectstore/index.js';
import { fromTFRecord } from '../../../sources/tfrecord/index.js';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { toLoader } from '../../../src/loader.js';
import type { LoaderState } from '../../../src/loaderState.js';
import { serverEnv } from '../objectstore/servers.js';

const env = serverEnv(['RXFEED_HTTP_ENDPOINT'], 'scripts/start-nginx.sh');

/** An object's ByteSource that counts the bytes its streams yield and logs where each starts. */
function counted(inner: ByteSource): ByteSource & { bytes: number; starts: number[] } {
  const source = {
    name: inner.name,
    bytes: 0,
    starts: [] as number[],
    size: (signal?: AbortSignal) => inner.size(signal),
    read: (start: number, end: number, signal?: AbortSignal) => inner.read(start, end, signal),
    async *stream(start = 0, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
      source.starts.push(start);
      for await (const chunk of inner.stream(start, signal)) {
        source.bytes += chunk.byteLength;
        yield chunk;
      }
    },
  };
  return source;
}

async function checkpointAndResume<T>(
  open: () => Observable<T>,
  count: number,
): Promise<{ whole: T[]; received: T[]; rest: T[]; state: LoaderState }> {
  const whole: T[] = [];
  for await (const item of toLoader(open())) whole.push(item);
  const loader = toLoader(open());
  const received: T[] = [];
  for await (const item of loader) {
    received.push(item);
    if (received.length === count) break;
  }
  const state = JSON.parse(JSON.stringify(loader.state())) as LoaderState;
  const rest: T[] = [];
  for await (const item of toLoader(open(), { state })) rest.push(item);
  return { whole, received, rest, state };
}

const bookmarkOf = (state: LoaderState): unknown[] => (state.parts['fromPuller#0@0'] as { at: { bookmark: unknown[] } }).at.bookmark;

describe(
  'resume over HTTP from nginx',
  { skip: env === undefined ? 'RXFEED_HTTP_ENDPOINT not set (scripts/start-nginx.sh)' : false },
  () => {
    const store = httpStore({ baseUrl: `${env?.RXFEED_HTTP_ENDPOINT ?? ''}/shared/` });

    it('issue 13: a resumed fromWebDataset fetches a shard from the bookmarked offset, never the bytes before it', async () => {
      const objects: ReturnType<typeof counted>[] = [];
      const open = () => {
        objects.length = 0;
        objects.push(counted(store.open('webdataset/compressed.tar')), counted(store.open('webdataset/testgz.tar')));
        return fromWebDataset(objects).pipe(shuffleBuffer(32, { seed: 13 }));
      };
      const { whole, received, rest, state } = await checkpointAndResume(open, 600);
      const key = (sample: { __url__: string; __key__: string }) => `${sample.__url__}#${sample.__key__}`;
      assert.equal(whole.length, 1003);
      assert.deepEqual([...received, ...rest].map(key), whole.map(key));
      const [shard, offset] = bookmarkOf(state) as [number, number];
      assert.equal(shard, 1);
      assert.ok(offset > 0);
      // The resumed loader's objects: compressed.tar never read, testgz.tar from the offset to its end.
      const [compressed, testgz] = objects;
      assert.deepEqual([compressed!.starts, testgz!.starts], [[], [offset]]);
      assert.equal(testgz!.bytes, (await testgz!.size()) - offset);
    });

    it('issue 13: a resumed fromTFRecord fetches the bookmarked file from the record offset, never the bytes before it', async () => {
      const objects: ReturnType<typeof counted>[] = [];
      const file = 'tfds/octo-bridge_dataset/1.0.0/bridge_dataset-val.tfrecord-00000-of-00001';
      const open = () => {
        objects.length = 0;
        objects.push(counted(store.open('tfrecord/pytorch-data/example.tfrecord')), counted(store.open(file)));
        return fromTFRecord(objects, { recordsPerPull: 2 });
      };
      const { whole, received, rest, state } = await checkpointAndResume(open, 20);
      assert.equal(whole.length, 29);
      assert.deepEqual(
        [...received, ...rest].map((record) => Buffer.from(record).toString('base64')),
        whole.map((record) => Buffer.from(record).toString('base64')),
      );
      const [index, offset, record] = bookmarkOf(state) as [number, number, number];
      assert.deepEqual([index, record >= 14 && record <= 16], [1, true]);
      const [example, bridge] = objects;
      assert.deepEqual([example!.starts, bridge!.starts], [[], [offset]]);
      assert.equal(bridge!.bytes, (await bridge!.size()) - offset);
    });
  },
);
