/**
 * A loader as a tfjs-data `Dataset` (`rxfeed/tfjs`), so `model.fitDataset` trains on it.
 *
 * How tfjs-layers' `fitDataset` iterates (engine/training_dataset.js, 4.22): without
 * `batchesPerEpoch` it calls `dataset.iterator()` once before the first epoch (and never reads
 * it), then once per epoch, reading each to its end; with `batchesPerEpoch` it calls it once for
 * the whole fit and reads `epochs x batchesPerEpoch` elements (a dataset that ends sooner needs
 * `.repeat()`). It never calls `return()` on an iterator it leaves, and it disposes the `xs` and
 * `ys` tensors of each element after its step. So here a pass over the loader starts at an
 * iterator's first `next()` (the unread iterator opens nothing), each pass is a new loader
 * iteration (the next epoch: seeded shuffles reshuffle), and disposing the dataset ends the passes
 * left open.
 *
 * @module
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfd from '@tensorflow/tfjs-data';
import type { Observable } from 'rxjs';
import { convertBatch, type Conversion } from '../device.js';
import { InvalidArgumentError } from '../errors.js';
import { Loader, toLoader } from '../loader.js';
import type { HostTensor } from '../tensor.js';
import { isPlainContainer } from '../treeWalk.js';
import { tfjsAdapter, type TfjsAdapterOptions, type TfjsModule } from './tfjs.js';

/**
 * The parts of tfjs {@link toTfDataset} uses: the `@tensorflow/tfjs` namespace, or tfjs-core's
 * with tfjs-data's as `data` (`{ ...tf, data: tfd }`).
 * @public
 */
export type TfDatasetModule = TfjsModule &
  Pick<typeof tfc, 'tidy' | 'Tensor'> & {
    readonly data: Pick<typeof tfd, 'generator'>;
  };

/**
 * A batch as `map` receives it: every {@link HostTensor} leaf a `tf.Tensor`, tensors made upstream
 * (a pipeline ending in `toDevice`) as they are, other values unchanged.
 * @public
 */
export type TfBatch<C> = C extends tfc.Tensor
  ? C
  : C extends HostTensor
    ? tfc.Tensor
    : C extends readonly unknown[]
      ? { -readonly [K in keyof C]: TfBatch<C[K]> }
      : C extends object
        ? { -readonly [K in keyof C]: TfBatch<C[K]> }
        : C;

/**
 * Options of {@link toTfDataset}; `dtypes` and `webgpu` convert host tensors as
 * {@link tfjsAdapter} does.
 * @public
 */
export interface ToTfDatasetOptions<T, E extends tfc.TensorContainer> extends TfjsAdapterOptions {
  /**
   * Make the dataset's element from a batch whose host tensors are now `tf.Tensor`s: for
   * `fitDataset`, `{ xs, ys }` (a tensor, an array or a map of them each). Runs inside `tf.tidy`,
   * so tensors it makes and does not return are freed; the batch's tensors it does not return are
   * disposed after it.
   */
  readonly map: (batch: TfBatch<T>) => E;
  /** The loader's `prefetch` when `source` is a pipeline; default 2. A `Loader` keeps its own. */
  readonly prefetch?: number;
}

/**
 * A tfjs-data `Dataset` over a loader; disposing it ends the passes still open.
 * @public
 */
export type TfDataset<E extends tfc.TensorContainer> = tfd.Dataset<E> & AsyncDisposable;

/** A pass over the loader that has started: one `dataset.iterator()` read at least once. */
interface Pass {
  close(): Promise<void>;
}

/**
 * Train a tfjs model on a pipeline: a tfjs-data `Dataset` whose every `iterator()` (each
 * `fitDataset` epoch) is a new pass over the loader, so `shuffleBuffer`, samplers and shuffled
 * sources reshuffle every epoch.
 *
 * Tensors: each batch's host tensors become `tf.Tensor`s, `map` makes the element, and what the
 * element does not hold is disposed at once; the element's tensors belong to its consumer, as in
 * tfjs-data (`fitDataset` disposes the `xs` and `ys` it trains on, so keep other keys out of the
 * element). A pipeline error rejects `fitDataset` with that same error (an `RxfeedError` for
 * rxfeed's own failures, naming the file, offset or key), after the pipeline has released its
 * sources. A pass `fitDataset` stops reading (`batchesPerEpoch`, `stopTraining`) keeps its sources
 * open until the dataset (or the `Loader` given) is disposed: `await using` it, or call
 * `dataset[Symbol.asyncDispose]()` after `fitDataset`.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import * as tfd from '@tensorflow/tfjs-data';
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { batch, collate, fromItems, shuffleBuffer, toLoader } from 'rxfeed';
 * import { toTfDataset } from 'rxfeed/tfjs';
 *
 * const samples = Array.from({ length: 256 }, (_, i) => ({ x: [i % 2, 1 - (i % 2)], label: i % 2 }));
 * const loader = toLoader(fromItems(samples).pipe(shuffleBuffer(256, { seed: 1 }), batch(32), collate()));
 * await using dataset = toTfDataset(loader, { ...tf, data: tfd }, {
 *   map: ({ x, label }) => ({ xs: x, ys: tf.oneHot(tf.cast(label, 'int32'), 2) }),
 * });
 * const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 2, activation: 'softmax' })] });
 * model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
 * await model.fitDataset(dataset, { epochs: 3 });
 * ```
 *
 * @param source - A `Loader` (`toLoader(...)`: its epochs advance with each pass), or a pipeline,
 *   made into a loader here.
 * @param tf - The user's tfjs (see {@link TfDatasetModule}), with a backend set: the tensors must
 *   come from the instance the model uses.
 * @param options - `map` (mandatory), conversion options and `prefetch`; see {@link ToTfDatasetOptions}.
 * @returns The dataset; its `size` is the loader's `length` (batches per epoch) when known.
 * @throws `InvalidArgumentError` (`RXFEED_ERR_INVALID_ARG`) when `map` is not a function or `tf`
 *   has no `data.generator`.
 * @public
 */
export function toTfDataset<T, E extends tfc.TensorContainer>(
  source: Observable<T>,
  tf: TfDatasetModule,
  options: ToTfDatasetOptions<T, E>,
): TfDataset<E> {
  if (typeof options?.map !== 'function') {
    throw new InvalidArgumentError('toTfDataset.map', 'must be a function making the element ({ xs, ys }) from a batch');
  }
  if (typeof tf?.data?.generator !== 'function') {
    throw new InvalidArgumentError('toTfDataset.tf', 'has no data.generator: pass @tensorflow/tfjs, or { ...tfCore, data: tfData }');
  }
  const { map, prefetch, ...conversion } = options;
  const loader = source instanceof Loader ? (source as Loader<T>) : toLoader(source, { prefetch });
  const adapter = tfjsAdapter(tf, conversion);
  const passes = new Set<Pass>();

  /** The element of one batch; every tensor made here that it does not hold is disposed. */
  const element = async (batch: T): Promise<E> => {
    let settled!: () => void;
    const converting = new Promise<void>((resolve) => (settled = resolve));
    const made: Conversion<tfc.Tensor> = convertBatch(adapter, batch, new Set(), () => settled());
    await converting;
    if (made.state === 'failed') throw made.error;
    const converted = made.batch as TfBatch<T>;
    // The batch's own tensors too (a pipeline ending in `toDevice`): they are ours to free.
    const owned = new Set<tfc.Tensor>([...made.tensors, ...tensorsIn(converted, tf.Tensor)]);
    try {
      const result = tf.tidy(() => map(converted));
      for (const kept of tensorsIn(result, tf.Tensor)) owned.delete(kept);
      return result;
    } finally {
      for (const tensor of owned) tensor.dispose();
    }
  };

  const startPass = (): AsyncIterator<E> => {
    let iterator: AsyncIterator<T> | undefined;
    let ended = false;
    const pass: Pass = {
      async close() {
        ended = true;
        passes.delete(pass);
        await iterator?.return?.();
      },
    };
    return {
      async next(): Promise<IteratorResult<E>> {
        if (ended) return { value: undefined, done: true };
        if (iterator === undefined) {
          iterator = loader[Symbol.asyncIterator]();
          passes.add(pass);
        }
        let result: IteratorResult<T>;
        try {
          result = await iterator.next();
        } catch (error) {
          // The loader released the pipeline before rejecting.
          await pass.close();
          throw error;
        }
        if (result.done === true) {
          await pass.close();
          return { value: undefined, done: true };
        }
        try {
          return { value: await element(result.value), done: false };
        } catch (error) {
          await pass.close();
          throw error;
        }
      },
    };
  };

  const dataset = tf.data.generator<E>(startPass) as TfDataset<E>;
  const size = loader.length;
  // tfjs-data's generator leaves `size` unknown; fitDataset's progress bar reads it.
  if (size !== undefined) (dataset as { size: number }).size = size;
  Object.defineProperty(dataset, Symbol.asyncDispose, {
    value: async (): Promise<void> => {
      await Promise.all([...passes].map((pass) => pass.close()));
      await adapter[Symbol.asyncDispose]();
    },
  });
  return dataset;
}

/** Every tensor in a batch or element: in plain objects and arrays, as `tf.tidy` finds them. */
function tensorsIn(value: unknown, tensorClass: abstract new (...args: never[]) => tfc.Tensor): tfc.Tensor[] {
  const found: tfc.Tensor[] = [];
  const walk = (node: unknown): void => {
    if (node instanceof tensorClass) found.push(node);
    else if (isPlainContainer(node)) for (const child of Object.values(node)) walk(child);
  };
  walk(value);
  return found;
}
