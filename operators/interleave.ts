import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../src/errors.js';
import { InnerSource } from '../src/fanIn.js';
import { sizeOf } from '../src/info.js';
import { produce } from '../src/operate.js';

/**
 * One input of {@link interleave}: an Observable, or a function making one when its turn to be
 * opened comes (handy when building a source is itself costly, e.g. reads an index).
 * @public
 */
export type InterleaveSource<T> = Observable<T> | (() => Observable<T>);

/** Options of {@link interleave}. */
export interface InterleaveOptions {
  /** How many sources are open at once: mandatory, a positive integer. */
  readonly cycleLength: number;
  /** How many consecutive items to take from one source before moving to the next; default 1. */
  readonly blockLength?: number;
}

/**
 * Read several sources at once, taking `blockLength` items from each in turn, as tf.data's
 * `interleave` does: the usual way to mix the records of several shard files while reading them in
 * parallel.
 *
 * The first `cycleLength` sources are opened at subscribe. The operator then visits the open
 * sources in a fixed cycle, taking up to `blockLength` items from each; when a visited source has
 * ended, the next unopened source takes its place in the cycle, and is first read on its next
 * visit. The order of the output is exactly tf.data's for the same arguments and depends on nothing
 * but the sources' contents: never on which source happens to answer first.
 *
 * Backpressure: each open source runs under its own child of the pipeline's Flow, gated so that it
 * pauses once it has one item waiting here. So a slow source never stalls the others' reading
 * ahead, and this operator holds at most one item per open source: at most `cycleLength` items,
 * for sources built on `fromPuller` or `fromItems` (a plain Observable that ignores the Flow may
 * push more, and they queue here). The captured pipeline context (Flow, epoch) is bound again
 * around every source opened later, so sources opened mid-stream respect the gauge too. On
 * teardown every open source is unsubscribed (closing its resources) and queued items are
 * disposed.
 *
 * The size is the sum of the sources' sizes, when every source is an Observable of known size.
 *
 * @example
 * ```ts
 * const shards = files.map((file) => tfrecordFile(file));
 * const records = interleave(shards, { cycleLength: 4, blockLength: 16 });
 * ```
 *
 * @param sources - The sources, in opening order: Observables, or functions making them.
 * @param options - See {@link InterleaveOptions}.
 * @returns An Observable of every item of every source, interleaved.
 * @throws {@link InvalidArgumentError} when `cycleLength` or `blockLength` is not a positive
 * integer.
 * @public
 */
export function interleave<T>(sources: readonly InterleaveSource<T>[], options: InterleaveOptions): Observable<T> {
  const { cycleLength } = options;
  const blockLength = options.blockLength ?? 1;
  if (!Number.isSafeInteger(cycleLength) || cycleLength < 1) {
    throw new InvalidArgumentError('interleave.cycleLength', `must be a positive integer, got ${String(cycleLength)}`);
  }
  if (!Number.isSafeInteger(blockLength) || blockLength < 1) {
    throw new InvalidArgumentError('interleave.blockLength', `must be a positive integer, got ${blockLength}`);
  }
  const inputs = [...sources];

  const sizes = inputs.map((input) => (typeof input === 'function' ? undefined : sizeOf(input)));
  const size = sizes.every((one) => one !== undefined) ? sizes.reduce((sum, one) => sum + one, 0) : undefined;
  return produce<T>(
    (op) => {
      // Which inputs are open, and where the cycle is, are not saved yet (see Loader.state).
      op.context.tracker.untracked('interleave', 'its cycle over open sources cannot be saved in a loader state yet');
      const slots = Array.from({ length: Math.min(cycleLength, inputs.length) }, (): InnerSource<T> | undefined => undefined);
      let nextInput = 0;
      let cycleIndex = 0;
      let blockIndex = 0;

      /** Put the next unopened source into `slots[index]`, or leave it empty when none is left. */
      const open = (index: number): void => {
        slots[index] = undefined;
        if (nextInput >= inputs.length) return;
        const input = inputs[nextInput++]!;
        const source = typeof input === 'function' ? input() : input;
        slots[index] = new InnerSource(op, source, pump.run);
      };

      const advance = (): void => {
        blockIndex = 0;
        cycleIndex = (cycleIndex + 1) % slots.length;
      };

      const pump = op.pump(() => {
        while (!op.closed) {
          if (nextInput >= inputs.length && slots.every((slot) => slot === undefined)) {
            op.complete();
            return;
          }
          const slot = slots[cycleIndex];
          if (slot === undefined) {
            advance();
            continue;
          }
          if (slot.queue.length > 0) {
            if (!pump.ready()) return;
            const [value, origins] = slot.takeWithOrigins();
            if (++blockIndex === blockLength) advance();
            op.emit(value, origins);
            continue;
          }
          if (slot.done) {
            slot.release();
            open(cycleIndex);
            advance();
            continue;
          }
          return; // wait for this source's next item (or its end)
        }
      });
      op.finalize(() => {
        for (const slot of slots) slot?.release();
      });

      if (slots.length === 0) {
        op.complete();
        return;
      }
      // Open the whole first cycle before visiting any of it.
      pump.runAfter(() => {
        for (let index = 0; index < slots.length && !op.closed; index++) open(index);
      });
    },
    { size },
  );
}
