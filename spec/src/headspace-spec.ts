// Issue 15 ("Headspace"): what a perfect loader would give the loop, measured by replaying the
// batches the real loader gave. The clock is fake: the source's pulls and the step advance it by
// known amounts, so every figure is exact.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EmptyPipelineError,
  fromItems,
  fromPuller,
  InvalidArgumentError,
  measureHeadspace,
  toLoader,
  type Loader,
} from '../../src/index.js';

/** A batch that logs its disposal. */
interface Batch extends Disposable {
  readonly index: number;
}

/**
 * A loader whose source costs `pullMs` of the fake clock per batch (one batch a pull), and a step
 * costing `stepMs`, with a log of steps and disposals.
 */
function scenario(pullMs: number, stepMs: number, batches = 100) {
  const clock = { ms: 0 };
  const log: string[] = [];
  let pulled = 0;
  const source = fromPuller<Batch>(() => ({
    pull: () => {
      if (pulled === batches) return null;
      clock.ms += pullMs;
      const index = pulled++;
      return [{ index, [Symbol.dispose]: () => void log.push(`dispose ${index}`) }];
    },
  }));
  const loader: Loader<Batch> = toLoader(source, { prefetch: 2 });
  const step = async (batch: Batch) => {
    log.push(`step ${batch.index}`);
    clock.ms += stepMs;
  };
  return { loader, step, log, now: () => clock.ms, pulled: () => pulled };
}

describe('measureHeadspace (issue 15: headspace)', () => {
  it('issue 15: a loader costing 5 ms a batch before a 20 ms step: 25 ms a step against 20 ms from the cache, at most 25% faster', async () => {
    const { loader, step, now } = scenario(5, 20);
    const headspace = await measureHeadspace(loader, step, { steps: 8, warmup: 3, now });
    assert.deepEqual(headspace, {
      steps: 8,
      loaderMsPerStep: 25,
      cachedMsPerStep: 20,
      speedup: 1.25,
      text: 'your loop would run at most 25% faster with a perfect loader (25 ms a step fed by the loader, 20 ms from cached batches, over 8 steps)',
    });
  });

  it('issue 15: a loader three times slower than the step: at most 300% faster', async () => {
    const { loader, step, now } = scenario(60, 20);
    const headspace = await measureHeadspace(loader, step, { steps: 4, warmup: 1, now });
    assert.equal(headspace.speedup, 4);
    assert.equal(
      headspace.text,
      'your loop would run at most 300% faster with a perfect loader (80 ms a step fed by the loader, 20 ms from cached batches, over 4 steps)',
    );
  });

  it('issue 15: a loader costing 1% of the step is not holding the loop back', async () => {
    const { loader, step, now } = scenario(0.25, 25);
    const headspace = await measureHeadspace(loader, step, { steps: 4, warmup: 2, now });
    assert.equal(headspace.speedup, 1.01);
    assert.equal(
      headspace.text,
      'your loop would run at most 1% faster with a perfect loader (25.3 ms a step fed by the loader, 25 ms from cached batches, over 4 steps): the loader is not holding you back',
    );
  });

  it('issue 15: holds at most `steps` batches: a warmup batch is disposed after its step, the timed ones after their replay, each once', async () => {
    const { loader, step, log, now, pulled } = scenario(1, 1);
    await measureHeadspace(loader, step, { steps: 3, warmup: 2, now });
    const ours = log.filter((line) => !/^dispose ([5-9]|\d\d)$/.test(line));
    assert.deepEqual(ours, [
      'step 0',
      'dispose 0',
      'step 1',
      'dispose 1',
      'step 2',
      'step 3',
      'step 4',
      // The replay of the cached batches, then their release.
      'step 2',
      'step 3',
      'step 4',
      'dispose 2',
      'dispose 3',
      'dispose 4',
    ]);
    // What the loader had read ahead was disposed by the loader when the measurement stopped it.
    const disposed = log.filter((line) => line.startsWith('dispose')).map((line) => Number(line.slice('dispose '.length)));
    assert.deepEqual(
      [...disposed].sort((a, b) => a - b),
      Array.from({ length: pulled() }, (_, index) => index),
    );
  });

  it('issue 15: a step that throws: the error comes back, and the loader and every batch are released', async () => {
    const { loader, log, now, pulled } = scenario(1, 1);
    const failure = new Error('step failed');
    let calls = 0;
    await assert.rejects(
      measureHeadspace(
        loader,
        (batch) => {
          log.push(`step ${batch.index}`);
          if (++calls === 4) throw failure;
        },
        { steps: 5, warmup: 1, now },
      ),
      (error) => error === failure,
    );
    const disposed = log.filter((line) => line.startsWith('dispose')).map((line) => Number(line.slice('dispose '.length)));
    assert.deepEqual(
      [...disposed].sort((a, b) => a - b),
      Array.from({ length: pulled() }, (_, index) => index),
    );
    assert.deepEqual(loader.readings().running, []);
  });

  it('issue 15: a loader that ends early measures the steps it gave; one that ends within the warmup or yields nothing is refused', async () => {
    const short = scenario(5, 20, 6);
    const headspace = await measureHeadspace(short.loader, short.step, { steps: 10, warmup: 2, now: short.now });
    // Batches 2 to 5: the loader had read 2 and 3 ahead during the warmup and had nothing left to
    // read ahead at the end, so only the pulls of 4 and 5 fall in the timed steps.
    assert.equal(headspace.steps, 4);
    assert.equal(headspace.loaderMsPerStep, (4 * 20 + 2 * 5) / 4);

    const tiny = scenario(5, 20, 2);
    await assert.rejects(
      measureHeadspace(tiny.loader, tiny.step, { warmup: 2, now: tiny.now }),
      (error) =>
        error instanceof InvalidArgumentError &&
        error.code === 'RXFEED_ERR_INVALID_ARG' &&
        error.message === 'measureHeadspace.warmup: the loader yielded 2 batch(es), all taken by the warmup of 2',
    );
    await assert.rejects(
      measureHeadspace(toLoader(fromItems([])), () => undefined),
      (error) => error instanceof EmptyPipelineError && error.code === 'RXFEED_ERR_EMPTY_LOADER' && error.epoch === 0,
    );
  });

  it('issue 15: steps and warmup must be integers (positive, non-negative), refused before the loader is read', async () => {
    const { loader, step, pulled } = scenario(1, 1);
    for (const [options, argument] of [
      [{ steps: 0 }, 'measureHeadspace.steps'],
      [{ steps: 1.5 }, 'measureHeadspace.steps'],
      [{ warmup: -1 }, 'measureHeadspace.warmup'],
      [{ warmup: Number.NaN }, 'measureHeadspace.warmup'],
    ] as const) {
      await assert.rejects(
        measureHeadspace(loader, step, options),
        (error) => error instanceof InvalidArgumentError && error.argument === argument,
      );
    }
    assert.equal(pulled(), 0);
  });
});
