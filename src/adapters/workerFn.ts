/**
 * Naming a worker task: {@link workerFn} binds a module export, its seed and options into a
 * {@link WorkerTaskReference} that a {@link WorkerExecutor} runs on its threads, and the built-in
 * image decode tasks are named the same way.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { TaskReference } from '../executor.js';
import { describe, EXCERPT_LIMIT, quoted } from '../excerpt.js';
import type { DecodeImageOptions, decodeImage, decodeImageFields, DecodeImageFieldsOptions } from './decodeImage.js';

/**
 * What a worker task receives besides its item. Per-sample randomness must come from
 * `(seed, epoch, index)`, never from state of the thread that runs it (see `deriveSeed`).
 * @public
 */
export interface WorkerTaskContext<O = unknown> {
  /** Position of the item in `parallelMap`'s input for this epoch (0-based). */
  readonly index: number;
  /** The epoch being read. */
  readonly epoch: number;
  /** The seed bound by {@link workerFn} (0 when none was given). */
  readonly seed: number;
  /** The options bound by {@link workerFn} (structured-cloned to the worker with each task). */
  readonly options: O;
}

/**
 * The shape of a function a worker thread can run: an export of an ES module.
 * @public
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a bound for any task's parameters
export type WorkerTaskFunction = (value: any, context: WorkerTaskContext<any>) => unknown;

/**
 * The options type a worker task reads from `context.options`, e.g. `DecodeImageOptions` for
 * `decodeImage`.
 * @public
 */
export type WorkerTaskOptions<F extends WorkerTaskFunction> =
  NonNullable<Parameters<F>[1]> extends { readonly options?: infer O } ? NonNullable<O> : unknown;

/**
 * A task named by module URL and export, with its bound seed and options.
 * @public
 */
export interface WorkerTaskReference<T, R, O = unknown> extends TaskReference<T, R> {
  /** `file:` URL of the compiled ES module. */
  readonly module: string;
  readonly exportName: string;
  readonly seed: number;
  readonly options: O;
}

/**
 * What {@link workerFn} binds to a task besides its module and export.
 * @public
 */
export interface WorkerFnBinding<O> {
  /** Seed handed to every call in `context.seed`; default 0. */
  readonly seed?: number;
  /** Options handed to every call in `context.options` (structured-cloneable). */
  readonly options?: O;
}

/**
 * Name a worker task by module URL and export, typed from the export.
 *
 * The module is imported by each worker thread, so it must be compiled JavaScript: resolve it
 * relative to the compiled caller, `new URL('./decode.js', import.meta.url)`. The export is called
 * as `fn(item, { index, epoch, seed, options })` and may return a promise.
 *
 * @example
 * ```ts
 * import { workerExecutor, workerFn, type WorkerTaskContext } from 'rxfeed/workers';
 * import { parallelMap } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * // exported by tasks.ts, compiled to tasks.js:
 * declare function resizeTask(image: Uint8Array, context: WorkerTaskContext<{ size: number }>): Promise<Uint8Array>;
 * declare const items: Observable<Uint8Array>;
 * const resize = workerFn<typeof resizeTask>(new URL('./tasks.js', import.meta.url), 'resizeTask', {
 *   seed: 1,
 *   options: { size: 64 },
 * });
 * items.pipe(parallelMap(resize, { executor: workerExecutor() }));
 * ```
 *
 * @param module - The module: a `URL`, a `file:` URL string, or an absolute path.
 * @param exportName - The name of the function export.
 * @param binding - Seed and options passed to every call.
 * @returns A task reference for `parallelMap` with a {@link WorkerExecutor}.
 * @public
 */
export function workerFn<F extends WorkerTaskFunction>(
  module: URL | string,
  exportName: string,
  binding: WorkerFnBinding<WorkerTaskOptions<F>> = {},
): WorkerTaskReference<Parameters<F>[0], Awaited<ReturnType<F>>, WorkerTaskOptions<F>> {
  const seed = binding.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidArgumentError('workerFn.seed', `must be a safe integer, got ${seed}`);
  }
  if (typeof exportName !== 'string' || exportName === '') {
    throw new InvalidArgumentError('workerFn.exportName', 'must name an export of the module');
  }
  return { module: moduleUrl(module, 'workerFn.module'), exportName, seed, options: binding.options as WorkerTaskOptions<F> };
}

/**
 * A module named by `URL`, `file:` URL string or absolute path, as the `file:` URL a worker thread imports.
 * @internal
 */
export function moduleUrl(module: URL | string, where: string): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') {
      throw new InvalidArgumentError(where, `must be a file: URL, got ${quoted(module.href, EXCERPT_LIMIT)}`);
    }
    return module.href;
  }
  if (typeof module !== 'string') {
    throw new InvalidArgumentError(where, `must be a URL or a string, got ${describe(module)}`);
  }
  if (!module.startsWith('file:') && !module.startsWith('/')) {
    throw new InvalidArgumentError(where, `'${module}' is relative; pass new URL('./task.js', import.meta.url) or an absolute path`);
  }
  try {
    return module.startsWith('file:') ? new URL(module).href : new URL(`file://${encodeURI(module)}`).href;
  } catch (error) {
    // new URL throws a TypeError for an unparsable URL, encodeURI a URIError for a lone surrogate.
    throw new InvalidArgumentError(where, `${quoted(module, EXCERPT_LIMIT)} is not a valid file URL or path: ${(error as Error).message}`);
  }
}

/**
 * The built-in image decode task ({@link decodeImage}) as a worker task: JPEG/PNG bytes to an RGB
 * `Uint8Array` with its shape, resized, cropped and flipped as `options` say.
 *
 * @example
 * ```ts
 * import { decodeImageTask, workerExecutor } from 'rxfeed/workers';
 * import { parallelMap } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const items: Observable<Uint8Array>;
 * await using executor = workerExecutor();
 * items.pipe(parallelMap(decodeImageTask({ resize: [128, 128], crop: { size: [112, 112], random: true } }, { seed: 3 }), { executor }));
 * ```
 *
 * @param options - Decode options (see {@link DecodeImageOptions}).
 * @param binding - The seed of the random crop and flip.
 * @returns A task reference for `parallelMap`.
 * @public
 */
export function decodeImageTask(
  options: DecodeImageOptions = {},
  binding: { readonly seed?: number } = {},
): WorkerTaskReference<Parameters<typeof decodeImage>[0], Awaited<ReturnType<typeof decodeImage>>, DecodeImageOptions> {
  return workerFn<typeof decodeImage>(new URL('./decodeImage.js', import.meta.url), 'decodeImage', {
    ...binding,
    options,
  });
}

/**
 * The built-in sample decode task ({@link decodeImageFields}) as a worker task: decodes the named
 * image fields of a sample object (e.g. WebDataset's `jpg`/`png`) and passes the others through.
 *
 * @example
 * ```ts
 * import { decodeImageFieldsTask, workerExecutor } from 'rxfeed/workers';
 * import { parallelMap } from 'rxfeed';
 * import type { Observable } from 'rxjs';
 * declare const samples: Observable<{ __key__: string; png: Uint8Array; cls: number }>;
 * await using executor = workerExecutor();
 * samples.pipe(parallelMap(decodeImageFieldsTask({ fields: ['png'], resize: [32, 32] }), { executor }));
 * ```
 *
 * Name the fields in the types too, `decodeImageFieldsTask<Sample, 'jpg'>({ fields: ['jpg'] })`,
 * so that only they are typed as decoded (see {@link DecodedImageFields}).
 *
 * @param options - Fields to decode and decode options (see {@link DecodeImageFieldsOptions}).
 * @param binding - The seed of the random crop and flip.
 * @returns A task reference for `parallelMap`.
 * @public
 */
export function decodeImageFieldsTask<S extends object, const F extends string = string>(
  options: DecodeImageFieldsOptions<F>,
  binding: { readonly seed?: number } = {},
): WorkerTaskReference<S, Awaited<ReturnType<typeof decodeImageFields<S, F>>>, DecodeImageFieldsOptions> {
  return workerFn<typeof decodeImageFields<S, F>>(new URL('./decodeImage.js', import.meta.url), 'decodeImageFields', {
    ...binding,
    options,
  });
}
