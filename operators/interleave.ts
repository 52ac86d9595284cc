import type { Observable } from 'rxjs';
import { InvalidArgumentError } from '../src/errors.js';
import { checkRefs, type OriginRef } from '../src/emittedLog.js';
import { describe } from '../src/excerpt.js';
import { FanInEmissions, InnerSource } from '../src/fanIn.js';
import { LoaderStateError } from '../src/loaderState.js';
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
 * import { interleave } from 'rxfeed';
 * import { fromTFRecord } from 'rxfeed/tfrecord';
 * declare const files: string[];
 * const shards = files.map((file) => fromTFRecord([file]));
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
      const slots = Array.from({ length: Math.min(cycleLength, inputs.length) }, (): InnerSource<T> | undefined => undefined);
      const slotInputs = slots.map(() => -1); // which input each slot reads
      let nextInput = 0;
      let cycleIndex = 0;
      let blockIndex = 0;

      // Loader state (see Loader.state): which input each slot reads, where the cycle is, and the
      // items emitted that the consumer has not received. Each input's parts are keyed under this
      // interleave and the input's index.
      const { tracker } = op.context;
      const key = tracker.keyFor('interleave', op.context.epoch);
      // After a resume: the items emitted before, gathered back from their inputs (a finished
      // input is opened again for them alone), then emitted again in their order.
      const emissions = new FanInEmissions<T>(op, key);
      const saved: SavedInterleave | undefined = restoredInterleave(
        tracker.register(key, {
          save: () =>
            emissions.restoring && saved !== undefined
              ? { kind: 'interleave', ...saved }
              : { kind: 'interleave', slotInputs, nextInput, cycleIndex, blockIndex, emitted: emissions.refs() },
        }),
        inputs.length,
        slots.length,
        key,
      );

      const inputSource = (index: number): Observable<T> => {
        const input = inputs[index]!;
        return typeof input === 'function' ? input() : input;
      };
      const subscribeInput = (index: number): InnerSource<T> => new InnerSource(op, inputSource(index), pump.run, `${key}/${index}`);

      /** Put the next unopened source into `slots[index]`, or leave it empty when none is left. */
      const open = (index: number): void => {
        slots[index] = undefined;
        slotInputs[index] = -1;
        if (nextInput >= inputs.length) return;
        slotInputs[index] = nextInput;
        slots[index] = subscribeInput(nextInput++);
      };

      const advance = (): void => {
        blockIndex = 0;
        cycleIndex = (cycleIndex + 1) % slots.length;
      };

      const pump = op.pump(() => {
        if (!emissions.replayed(slots, pump)) return;
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
            emissions.emit(value, origins);
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
        emissions.release();
      });

      if (slots.length === 0) {
        op.complete();
        return;
      }
      // Open the whole first cycle before visiting any of it (a resumed one: the inputs it read).
      pump.runAfter(() => {
        if (saved === undefined) {
          for (let index = 0; index < slots.length && !op.closed; index++) open(index);
          return;
        }
        nextInput = saved.nextInput;
        cycleIndex = saved.cycleIndex;
        blockIndex = saved.blockIndex;
        saved.slotInputs.forEach((input, index) => {
          slotInputs[index] = input;
          if (input >= 0 && !op.closed) slots[index] = subscribeInput(input);
        });
        if (saved.emitted.length === 0) return;
        const replay = emissions.resume(saved.emitted, 'interleave');
        // An input that had finished is opened again, alone, for the items it had emitted.
        const finished = new Set(
          saved.emitted.map(([ledger]) => inputOf(ledger, key)!).filter((input) => !saved.slotInputs.includes(input)),
        );
        for (const input of finished) replay.alsoFrom(subscribeInput(input));
      });
    },
    { size },
  );
}

/** What an interleave saves in a loader state. */
interface SavedInterleave {
  readonly slotInputs: readonly number[];
  readonly nextInput: number;
  readonly cycleIndex: number;
  readonly blockIndex: number;
  readonly emitted: readonly OriginRef[];
}

/** The one saved part, checked against this interleave's inputs; undefined for a fresh start. */
function restoredInterleave(saved: readonly unknown[], inputs: number, cycle: number, key: string): SavedInterleave | undefined {
  if (saved.length === 0) return undefined;
  const part = saved[0] as Partial<SavedInterleave> & { kind?: unknown };
  const mismatch = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_MISMATCH', `${key}: ${why}`, key);
  };
  if (typeof part !== 'object' || part === null || part.kind !== 'interleave') {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: expected an interleave's part, got ${describe(part)}`, key);
  }
  const index = (value: unknown, below: number): boolean =>
    Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < below;
  if (
    !Array.isArray(part.slotInputs) ||
    part.slotInputs.length !== cycle ||
    !part.slotInputs.every((input) => input === -1 || index(input, inputs))
  ) {
    mismatch(`the state was saved by an interleave of other inputs or cycle (${describe(part.slotInputs)})`);
  }
  if (
    !index(part.nextInput, inputs + 1) ||
    !index(part.cycleIndex, cycle) ||
    !Number.isSafeInteger(part.blockIndex) ||
    part.blockIndex! < 0
  ) {
    mismatch('its position in the cycle does not fit this interleave');
  }
  // Inputs open in order, each once: the slots hold distinct inputs opened before `nextInput`.
  const open = part.slotInputs!.filter((input) => input !== -1);
  if (new Set(open).size !== open.length || open.some((input) => input >= part.nextInput!)) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_INVALID',
      `${key}: slots ${describe(part.slotInputs)} do not fit next input ${part.nextInput}`,
      key,
    );
  }
  const emitted = checkRefs(part.emitted, key, 'emitted');
  for (const [ledger] of emitted) {
    const input = inputOf(ledger, key);
    if (input === undefined || input >= part.nextInput!) mismatch(`an emitted item of ${describe(ledger)} is of no input opened`);
  }
  return { slotInputs: part.slotInputs!, nextInput: part.nextInput!, cycleIndex: part.cycleIndex!, blockIndex: part.blockIndex!, emitted };
}

/** The input a part's key belongs to: keys under an interleave start `<its key>/<input>/`. */
function inputOf(ledgerKey: string, key: string): number | undefined {
  if (!ledgerKey.startsWith(`${key}/`)) return undefined;
  const input = Number.parseInt(ledgerKey.slice(key.length + 1), 10);
  return Number.isSafeInteger(input) ? input : undefined;
}
