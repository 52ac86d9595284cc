/**
 * Errors always reach the loop: a throw in any user callback of any rxfeed operator, on any path
 * (an item, the completion, a promise or scheduler callback), ends the `for await` with that very
 * error, and every source is released. Before the operator kit, 7 such throws became unhandled
 * rejections and the loop waited forever (issue 10.1); each test has a short timeout so a hang
 * fails fast instead of holding the suite.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { map, type Observable, type OperatorFunction } from 'rxjs';
import {
  batch,
  collate,
  DeviceConversionError,
  epochs,
  fromItems,
  fromPuller,
  fromRandomAccess,
  fromResource,
  hooks,
  itemsDataset,
  interleave,
  mix,
  padToBatch,
  parallelMap,
  progress,
  shard,
  shuffleBuffer,
  TaskError,
  toDevice,
  type RandomAccess,
  toLoader,
  zipShards,
} from '../../src/index.js';
import { fromTFRecord, tfrecordDataset } from '../../sources/tfrecord/index.js';
import { pytorchData } from '../sources/tfrecord/paths.js';

const N = 10; // items per source: batches of 4 leave a partial last batch of 2

/** A source of 0..N-1 that counts its closes, pulling synchronously or through promises. */
function trackedSource(kind: 'sync' | 'async'): {
  source: Observable<number>;
  opened: () => number;
  closed: () => number;
} {
  let opens = 0;
  let closes = 0;
  const source = fromPuller<number>(
    () => {
      opens++;
      let next = 0;
      const chunk = (): number[] | null => (next < N ? [next++] : null);
      return {
        pull: kind === 'sync' ? chunk : () => Promise.resolve(chunk()),
        close: () => {
          closes++;
        },
      };
    },
    { size: N },
  );
  return { source, opened: () => opens, closed: () => closes };
}

async function drain<T>(source: Observable<T>): Promise<number> {
  let count = 0;
  for await (const _ of toLoader(source)) count++;
  return count;
}

/**
 * The error a loop sees for `boom`: itself, or a typed error whose cause it is (a `TaskError`
 * from parallelMap, a `DeviceConversionError` from toDevice, naming the item or leaf).
 */
function isBoom(boom: Error): (error: unknown) => boolean {
  return (error) => error === boom || ((error instanceof TaskError || error instanceof DeviceConversionError) && error.cause === boom);
}

type Case = readonly [name: string, make: (fail: () => never) => OperatorFunction<number, unknown>];

/** Every exported operator with a user callback, each callback throwing once on some path. */
const cases: readonly Case[] = [
  ['hooks.beforeIter', (fail) => hooks(4, { beforeIter: fail })],
  ['hooks.afterItem', (fail) => hooks(4, { afterItem: (x) => (x === 5 ? fail() : x) })],
  ['hooks.beforeBatch on the last partial batch', (fail) => hooks(4, { beforeBatch: (xs) => (xs.length < 4 ? fail() : xs) })],
  ['hooks.collate on the last partial batch', (fail) => hooks(4, { collate: (xs) => (xs.length < 4 ? fail() : xs) })],
  ['hooks.afterBatch on the last partial batch', (fail) => hooks<number, number[]>(4, { afterBatch: (b) => (b.length < 4 ? fail() : b) })],
  ['hooks.afterIter', (fail) => hooks(4, { afterIter: fail })],
  ['epochs.onEpoch at epoch 1', (fail) => epochs(3, { onEpoch: (epoch) => (epoch === 1 ? fail() : undefined) })],
  ['epochs.onEpoch at epoch 0', (fail) => epochs(3, { onEpoch: fail })],
  ['progress.weight', (fail) => progress({ weight: (x) => (x === 5 ? fail() : 1), output: { write: () => true } })],
  ['progress: the final write', (fail) => progress({ output: { write: fail } })],
  ['padToBatch.indexOf', (fail) => padToBatch<number>(4, { size: N, worldSize: 1, indexOf: (x) => (x === 5 ? fail() : x) })],
  ['padToBatch.fill on the last batch', (fail) => padToBatch<number>(4, { size: N, worldSize: 1, fill: fail })],
  ['padToBatch.fill on an owed all-pad batch', (fail) => padToBatch<number>(4, { size: 2 * N + 8, worldSize: 2, fill: fail })],
  ['parallelMap task', (fail) => parallelMap((x: number) => (x === 5 ? fail() : x))],
  ['parallelMap async task', (fail) => parallelMap(async (x: number) => (x === 5 ? fail() : x))],
  [
    'toDevice adapter.toTensor',
    (fail) => (source) =>
      source.pipe(batch(4), collate(), toDevice({ name: 'failing', toTensor: fail, dispose: () => undefined }, { prefetch: 2 })),
  ],
  [
    'a plain RxJS map after an rxfeed stage',
    (fail) => (source) =>
      source.pipe(
        shuffleBuffer(4, { seed: 1 }),
        map((x) => (x === 5 ? fail() : x)),
      ),
  ],
];

describe('issue 10.1: a throw in any callback reaches the loop and releases every source', () => {
  for (const [name, make] of cases) {
    for (const kind of ['sync', 'async'] as const) {
      for (const placement of ['directly', 'after parallelMap'] as const) {
        it(`${name}, ${kind} source, ${placement}`, { timeout: 10_000 }, async () => {
          const boom = new Error(`boom in ${name}`);
          const fail = (): never => {
            throw boom;
          };
          const { source, opened, closed } = trackedSource(kind);
          const input = placement === 'directly' ? source : source.pipe(parallelMap(async (x: number) => x));
          await assert.rejects(drain(input.pipe(make(fail))), isBoom(boom));
          assert.equal(closed(), opened(), 'every subscription of the source was released');
        });
      }
    }
  }
});

describe('issue 10.1: the seven reproduced hangs', () => {
  const fail = (boom: Error) => (): never => {
    throw boom;
  };

  it("hooks' afterIter", { timeout: 10_000 }, async () => {
    const boom = new Error('afterIter');
    const { source, closed } = trackedSource('async');
    await assert.rejects(drain(source.pipe(hooks(4, { afterIter: fail(boom) }))), boom);
    assert.equal(closed(), 1);
  });

  it("hooks' beforeBatch on the last partial batch", { timeout: 10_000 }, async () => {
    const boom = new Error('beforeBatch');
    const { source, closed } = trackedSource('async');
    const failLast = (items: number[]) => (items.length < 4 ? fail(boom)() : items);
    await assert.rejects(drain(source.pipe(hooks(4, { beforeBatch: failLast }))), boom);
    assert.equal(closed(), 1);
  });

  it("hooks' afterBatch over a file source", { timeout: 10_000 }, async () => {
    const boom = new Error('afterBatch');
    const records = fromTFRecord([join(pytorchData, 'example.tfrecord')]);
    let batches = 0;
    const afterBatch = (records: Uint8Array[]) => (++batches === 2 ? fail(boom)() : records);
    await assert.rejects(drain(records.pipe(hooks(2, { afterBatch }))), boom);
    assert.equal(batches, 2);
  });

  it("hooks' collate after parallelMap", { timeout: 10_000 }, async () => {
    const boom = new Error('collate');
    const { source, closed } = trackedSource('async');
    const pipeline = source.pipe(
      parallelMap(async (x: number) => x * 2, { concurrency: 3 }),
      hooks(4, { collate: (items) => (items.includes(10) ? fail(boom)() : items) }),
    );
    await assert.rejects(drain(pipeline), boom);
    assert.equal(closed(), 1);
  });

  it("epochs' onEpoch for epoch 1", { timeout: 10_000 }, async () => {
    const boom = new Error('onEpoch');
    const { source } = trackedSource('async');
    const seen: number[] = [];
    const onEpoch = (epoch: number) => {
      seen.push(epoch);
      if (epoch === 1) fail(boom)();
    };
    await assert.rejects(drain(source.pipe(epochs(3, { onEpoch }))), boom);
    assert.deepEqual(seen, [0, 1]);
  });

  it("progress's final write", { timeout: 10_000 }, async () => {
    const boom = new Error('write');
    const { source, closed } = trackedSource('async');
    await assert.rejects(drain(source.pipe(progress({ output: { write: fail(boom) } }))), boom);
    assert.equal(closed(), 1);
  });

  it('a throw downstream of parallelMap, on its last item', { timeout: 10_000 }, async () => {
    const boom = new Error('last item');
    const { source, closed } = trackedSource('async');
    const pipeline = source.pipe(
      parallelMap(async (x: number) => x),
      hooks(N, { afterBatch: fail(boom) }),
    );
    await assert.rejects(drain(pipeline), boom);
    assert.equal(closed(), 1);
  });
});

describe('issue 10.1: a throw in a fan-in input or a source callback reaches the loop', () => {
  it('interleave: an input factory that throws', { timeout: 10_000 }, async () => {
    const boom = new Error('factory');
    const { source, closed } = trackedSource('async');
    const inputs = [
      () => source,
      (): Observable<number> => {
        throw boom;
      },
    ];
    await assert.rejects(drain(interleave(inputs, { cycleLength: 1 })), boom);
    assert.equal(closed(), 1);
  });

  it('mix and zipShards: a throw downstream of an inner source answering asynchronously', { timeout: 10_000 }, async () => {
    for (const make of [
      (a: Observable<number>, b: Observable<number>) => mix([a, b], [1, 1], { seed: 3 }),
      (a: Observable<number>, b: Observable<number>) => zipShards([a, b]).pipe(map(([x]) => x)),
    ]) {
      const boom = new Error('downstream');
      const first = trackedSource('async');
      const second = trackedSource('async');
      const pipeline = make(first.source, second.source).pipe(
        hooks(3, {
          afterBatch: () => {
            throw boom;
          },
        }),
      );
      await assert.rejects(drain(pipeline), boom);
      assert.equal(first.closed(), 1);
      assert.equal(second.closed(), 1);
    }
  });

  it('fromPuller: a throwing open, pull and close', { timeout: 10_000 }, async () => {
    const boom = new Error('puller');
    const throwing = (): never => {
      throw boom;
    };
    await assert.rejects(drain(fromPuller(throwing)), boom);
    await assert.rejects(drain(fromPuller(() => ({ pull: throwing }))), boom);
    let pulled = 0;
    const closing = fromPuller<number>(() => ({ pull: () => (pulled++ < 2 ? [pulled] : null), close: throwing }));
    await assert.rejects(drain(closing), boom);
  });

  it('fromRandomAccess: a dataset read that throws, one that rejects, and an order function that throws', { timeout: 10_000 }, async () => {
    const boom = new Error('read');
    const dataset = (read: () => never | Promise<never>): RandomAccess<number> => ({ size: 10, read, close: () => {} });
    await assert.rejects(
      drain(
        fromRandomAccess(
          dataset(() => {
            throw boom;
          }),
        ),
      ),
      boom,
    );
    await assert.rejects(drain(fromRandomAccess(dataset(() => Promise.reject(boom)))), boom);
    const order = (): never => {
      throw boom;
    };
    await assert.rejects(drain(fromRandomAccess(itemsDataset([1, 2, 3]), { sampler: order })), boom);
  });

  it('tfrecordDataset: a custom decoder that throws, on a direct read and through fromRandomAccess', { timeout: 10_000 }, async () => {
    const boom = new Error('decode');
    const dataset = await tfrecordDataset([join(pytorchData, 'example.tfrecord')], {
      decode: (): never => {
        throw boom;
      },
    });
    try {
      await assert.rejects(dataset.read([1, 0]), boom);
      await assert.rejects(drain(fromRandomAccess(dataset, { readsInFlight: 2, readSize: 1 })), boom);
    } finally {
      await dataset.close();
    }
  });

  it(
    'issue 12: fromResource: a throwing open (at once and as a rejection), read and close; what was opened is closed',
    { timeout: 10_000 },
    async () => {
      const boom = new Error('resource');
      const throwing = (): never => {
        throw boom;
      };
      await assert.rejects(drain(fromResource(throwing, () => fromItems([1]))), boom);
      await assert.rejects(
        drain(
          fromResource(
            () => Promise.reject(boom),
            () => fromItems([1]),
          ),
        ),
        boom,
      );
      let closes = 0;
      await assert.rejects(
        drain(
          fromResource(
            () => [1, 2],
            throwing,
            () => closes++,
          ),
        ),
        boom,
      );
      assert.equal(closes, 1, 'a read that throws still closes what was opened');
      await assert.rejects(
        drain(
          fromResource(
            () => [1, 2],
            (items) => fromItems(items),
            throwing,
          ),
        ),
        boom,
      );
    },
  );

  it('fromItems: a generator that throws', { timeout: 10_000 }, async () => {
    const boom = new Error('generator');
    const items = fromItems(function* () {
      yield 1;
      throw boom;
    });
    await assert.rejects(drain(items.pipe(shard({ rank: 0, worldSize: 1 }))), boom);
  });
});
