import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EMPTY, filter, lastValueFrom, map, take, toArray } from 'rxjs';
import { batch, EmptyPipelineError, FileReadError, fromItems, oneBatch, RxfeedError, toLoader } from '../../src/index.js';
import { recordingSource } from '../../src/testing/index.js';
import { fromTFRecord } from '../../sources/tfrecord/index.js';
import { pytorchData } from '../sources/tfrecord/paths.js';

const exampleFile = join(pytorchData, 'example.tfrecord');

/** This process's open file descriptors on `path`, read from the kernel (which names real paths). */
function openDescriptors(path: string): number {
  const real = realpathSync(path);
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(join('/proc/self/fd', fd)) === real) count++;
    } catch {
      // the descriptor readdir itself used, closed since
    }
  }
  return count;
}

function isEmptyPipeline(caller: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof EmptyPipelineError);
    assert.ok(error instanceof RxfeedError);
    assert.equal(error.code, 'RXFEED_ERR_EMPTY_LOADER');
    assert.equal(error.message, `${caller}: epoch 0 of the pipeline yields no item`);
    assert.equal(error.epoch, 0);
    return true;
  };
}

describe('oneBatch', () => {
  it('issue 14: gives the first batch of a pipeline, reads on no further, and releases the source before it resolves', async () => {
    const { source, record } = recordingSource(Array.from({ length: 1000 }, (_, i) => i));
    assert.deepEqual(await oneBatch(source.pipe(batch(10))), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(record.opened, 1);
    assert.equal(record.closed, 1);
    assert.ok(record.pulled < 1000, `pulled ${record.pulled} of 1000`);
  });

  it('issue 14: a real fromTFRecord file is open while its first record is read and closed once oneBatch resolves', async () => {
    const [whole] = await lastValueFrom(fromTFRecord([exampleFile], { decode: 'example' }).pipe(take(1), toArray()));
    let openWhileReading = -1;
    const first = await oneBatch(
      fromTFRecord([exampleFile], { decode: 'example' }).pipe(
        map((example) => {
          openWhileReading = openDescriptors(exampleFile);
          return example;
        }),
      ),
    );
    assert.deepEqual(first, whole);
    assert.equal(openWhileReading, 1);
    assert.equal(openDescriptors(exampleFile), 0);
  });

  it('issue 14: an empty pipeline rejects with EmptyPipelineError (RXFEED_ERR_EMPTY_LOADER), its source released', async () => {
    await assert.rejects(oneBatch(EMPTY), isEmptyPipeline('oneBatch'));
    const { source, record } = recordingSource([1, 2, 3]);
    await assert.rejects(oneBatch(source.pipe(filter((x) => x > 3))), isEmptyPipeline('oneBatch'));
    assert.deepEqual(record, { pulled: 3, opened: 1, closed: 1 });
  });

  it("issue 14: a failing pipeline rejects with the pipeline's own typed error", async () => {
    const missing = join(pytorchData, 'no-such.tfrecord');
    await assert.rejects(oneBatch(fromTFRecord([missing])), (error: unknown) => {
      assert.ok(error instanceof FileReadError);
      assert.equal(error.code, 'RXFEED_ERR_FILE_NOT_FOUND');
      assert.equal(error.path, missing);
      return true;
    });
  });

  it('issue 14: a loader is looked at without advancing its epoch; its next iteration begins with that batch', async () => {
    const { source, record } = recordingSource(Array.from({ length: 20 }, (_, i) => i));
    const loader = toLoader(source.pipe(batch(4)));
    const first = await oneBatch(loader);
    assert.deepEqual(first, [0, 1, 2, 3]);
    assert.equal(record.closed, 1);
    assert.equal(loader.epoch, 0);
    const batches: number[][] = [];
    for await (const rows of loader) batches.push(rows);
    assert.deepEqual(batches[0], first);
    assert.equal(batches.length, 5);
    await assert.rejects(oneBatch(toLoader(fromItems([]))), isEmptyPipeline('Loader.oneBatch'));
  });
});
