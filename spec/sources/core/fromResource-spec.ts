import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { map, throwError } from 'rxjs';
import { shard } from '../../../operators/shard.js';
import { bindContext, PipelineContext } from '../../../src/context.js';
import { Flow } from '../../../src/flow.js';
import { toLoader } from '../../../src/loader.js';
import { fromItems } from '../../../sources/core/fromItems.js';
import { fromResource } from '../../../sources/core/fromResource.js';

/** A resource that records what happened to it; closing takes a macrotask. */
function resource(): { log: string[]; open: () => Promise<number[]>; close: () => Promise<void> } {
  const log: string[] = [];
  return {
    log,
    open: async () => {
      await nextMacrotask();
      log.push('open');
      return [1, 2, 3, 4, 5, 6];
    },
    close: async () => {
      await nextMacrotask();
      log.push('closed');
    },
  };
}

describe('fromResource (issue 12)', () => {
  it('issue 12: each subscription opens, reads and closes; the loop ends only after the close', async () => {
    const { log, open, close } = resource();
    const source = fromResource(open, (items) => fromItems(items), close);
    for (let epoch = 0; epoch < 2; epoch++) {
      const read: number[] = [];
      for await (const item of toLoader(source)) read.push(item);
      log.push('loop ended');
      assert.deepEqual(read, [1, 2, 3, 4, 5, 6]);
    }
    assert.deepEqual(log, ['open', 'closed', 'loop ended', 'open', 'closed', 'loop ended']);
  });

  it('issue 12: a break, an error in the read, and an unsubscribe while opening all close what was opened before the loop returns', async () => {
    const broken = resource();
    for await (const item of toLoader(fromResource(broken.open, (items) => fromItems(items), broken.close))) {
      if (item === 2) break;
    }
    assert.deepEqual(broken.log, ['open', 'closed']);

    const failing = resource();
    await assert.rejects(
      (async () => {
        for await (const item of toLoader(fromResource(failing.open, () => throwError(() => new Error('bad record')), failing.close)))
          void item;
      })(),
      /bad record/,
    );
    assert.deepEqual(failing.log, ['open', 'closed']);

    const early = resource();
    const flow = new Flow();
    const subscription = bindContext({ flow }, () => fromResource(early.open, (items) => fromItems(items), early.close).subscribe());
    subscription.unsubscribe();
    await flow.released();
    assert.deepEqual(early.log, ['open', 'closed']);
  });

  it('issue 12: a failed open reaches the loop and closes nothing', async () => {
    let closes = 0;
    const source = fromResource(
      () => Promise.reject(new Error('no such dataset')),
      () => fromItems([1]),
      () => closes++,
    );
    await assert.rejects(
      (async () => {
        for await (const item of toLoader(source)) void item;
      })(),
      /no such dataset/,
    );
    assert.equal(closes, 0);
  });

  it("issue 12: the read is subscribed under the asking subscription's context, so shard() splits by its part", async () => {
    const source = fromResource(
      async () => Array.from({ length: 10 }, (_, i) => i),
      (items) => fromItems(items).pipe(shard()),
    );
    const flow = new Flow();
    const part = { rank: 0, worldSize: 1, workerIndex: 1, numWorkers: 2 };
    const read = await new Promise<number[]>((resolve, reject) => {
      const items: number[] = [];
      bindContext(new PipelineContext({ flow, part }), () =>
        source.pipe(map((item) => item)).subscribe({ next: (item) => items.push(item), error: reject, complete: () => resolve(items) }),
      );
    });
    assert.deepEqual(read, [5, 6, 7, 8, 9]);
  });
});
