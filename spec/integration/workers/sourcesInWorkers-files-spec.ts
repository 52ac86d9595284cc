import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Observable } from 'rxjs';
import { fromTfds, fromTFRecord } from '../../../sources/tfrecord/index.js';
import { fromWebDataset } from '../../../sources/webdataset/index.js';
import { repoRoot, scratchDir, sharedWebDataset } from '../../sources/webdataset/tarFixtures.js';
import { generatedShards } from '../webdataset/shards.js';
import { tfdsExamples, tfrecords, webDatasetShards, type subscribedLater } from './fixtures/sourcePipelines.js';
import { WorkerPipelineError, workerPipeline } from '../../../src/adapters/piscina.js';
import { asMultiset, bothWays, collect, crossed } from './inMainThread.js';

const pipelines = new URL('./fixtures/sourcePipelines.js', import.meta.url);
const sharedData = join(repoRoot, '..', 'shared', 'data');

/** Every item of a plain main-thread source (no parts), as it reads after crossing threads. */
const plain = async (source: Observable<unknown>): Promise<unknown[]> => (await collect(source)).map(crossed);

describe('local-file sources inside worker pipelines, compared with the main thread (issue 12)', () => {
  const scratch = scratchDir();
  let generated: string[];

  before(async () => {
    generated = (await generatedShards()).map(({ name, bytes }) => scratch.write(name, bytes));
  });
  after(() => scratch.cleanup());

  it('issue 12: fromWebDataset over the shared shards reads the same samples in 2 threads as in the main thread, none lost or twice', async () => {
    const input = ['sample.tgz', 'testgz.tar', 'compressed.tar'].map((name) => join(sharedWebDataset, name));
    const items = await bothWays(pipelines, webDatasetShards, { threads: 2, options: { input } });
    assert.equal(items.length, 90 + 1000 + 3);
    assert.deepEqual(asMultiset(items), asMultiset(await plain(fromWebDataset(input))));
  });

  it('issue 12: fromWebDataset over generated shards (a brace pattern) reads the same samples in 2 threads as in the main thread', async () => {
    const input = join(scratch.dir, 'shard-{0..3}.tar');
    const items = await bothWays(pipelines, webDatasetShards, { threads: 2, options: { input } });
    assert.equal(items.length, 100);
    assert.deepEqual(asMultiset(items), asMultiset(await plain(fromWebDataset(generated))));
  });

  it('issue 12: fromTFRecord raw records split by file, and Examples of one file split by element, read the same in 2 threads', async () => {
    const folder = join(sharedData, 'tfrecord', 'pytorch-data');
    const paths = readdirSync(folder)
      .filter((name) => name.endsWith('.tfrecord'))
      .sort()
      .map((name) => join(folder, name));
    assert.equal(paths.length, 2);
    const raw = await bothWays(pipelines, tfrecords, { threads: 2, options: { paths, decode: 'raw', mode: 'file' } });
    assert.equal(raw.length, 8);
    assert.deepEqual(asMultiset(raw), asMultiset(await plain(fromTFRecord(paths))));
    // One file, two threads: only an element split gives each a share.
    const examplePaths = paths.filter((path) => path.endsWith('/example.tfrecord'));
    const examples = await bothWays(pipelines, tfrecords, {
      threads: 2,
      options: { paths: examplePaths, decode: 'example', mode: 'element' },
    });
    assert.equal(examples.length, 4);
    assert.deepEqual(asMultiset(examples), asMultiset(await plain(fromTFRecord(examplePaths, { decode: 'example' }))));
  });

  it('issue 12: fromTfds (a split across two shard files) reads the same episodes in 2 threads as in the main thread', async () => {
    const dataDir = join(sharedData, 'tfds', 'octo-bridge_dataset', '1.0.0');
    const split = 'train+val';
    const episodes = await bothWays(pipelines, tfdsExamples, { threads: 2, options: { dataDir, split } });
    assert.equal(episodes.length, 50);
    assert.deepEqual(asMultiset(episodes), asMultiset(await plain(fromTfds(dataDir, { split }))));
  });

  it('issue 12: a source subscribed from a promise callback, outside the part context, is refused typed rather than read by every thread', async () => {
    // Why `opened` exists: what a part subscribes later sees no part, so its shard() cannot split.
    await using later = workerPipeline<typeof subscribedLater>(pipelines, 'subscribedLater', { threads: 2, options: { input: generated } });
    await assert.rejects(collect(later), (error: unknown) => {
      assert.ok(error instanceof WorkerPipelineError, String(error));
      assert.equal(error.remoteCode, 'RXFEED_ERR_WORKER_UNSPLIT');
      return true;
    });
    await using madeInPart = workerPipeline<typeof webDatasetShards>(pipelines, 'webDatasetShards', {
      threads: 2,
      options: { input: generated },
    });
    assert.equal((await collect(madeInPart)).length, 100);
  });
});
