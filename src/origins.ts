/**
 * Origins: which source items each item in a pipeline was made from, so that a loader can say
 * exactly what its consumer has received (see `Loader.state`).
 *
 * A source gives each item it emits an {@link Origin}: the {@link Ledger} of its subscription and
 * the item's number there. The origin travels beside the item, never inside it:
 * - while an item is being emitted, its origins sit in one slot (as the pipeline context does
 *   while a pipeline is subscribed), so plain synchronous RxJS operators (`map`, `filter`, `tap`)
 *   carry them with no work at all;
 * - a stage that holds items (`batch`, `prefetch`, `parallelMap`, the loader's queue) takes the
 *   origins when an item arrives ({@link takeOrigins}) and puts them back in the slot when it
 *   emits ({@link emitWithOrigins}); a stage that combines items (`batch`, `padToBatch`)
 *   emits the list of its items' origins;
 * - an item that no stage takes while it is emitted was dropped (a `filter`, another rank's item
 *   in `shard`): its origins count as consumed at once, so they are not read again on resume;
 * - the loader marks the origins of each item its consumer receives as consumed.
 *
 * An item that reaches a stage outside any emission (a plain RxJS operator that emits later, as
 * `mergeMap` over a promise or `delay` do, or a plain Observable as the source) has no origins;
 * the stage records that, and `Loader.state` then fails naming it instead of returning a state
 * that would resume wrongly. A plain operator that holds items and emits them synchronously later
 * (`bufferCount`, `pairwise`) cannot be seen this way: use `batch` instead.
 *
 * @module
 */

/**
 * What counts the items of one source subscription as they are consumed.
 * @public
 */
export interface Ledger {
  /** The key it is saved under in a loader state (`fromPuller#0@2`): the same in a resumed run. */
  readonly key: string;
  /** Item `seq` was received by the consumer, or dropped on the way. */
  consume(seq: number): void;
  /** Whether item `seq` was consumed. */
  consumed(seq: number): boolean;
}

/**
 * Where one item came from: its source subscription's ledger and its number there.
 * @public
 */
export interface Origin {
  readonly ledger: Ledger;
  readonly seq: number;
}

/**
 * The origins of one item: one origin, the list of a batch's, or `undefined` when unknown. An
 * operator written with the operator kit that holds items takes them with
 * `Operation.takeOrigins` and emits them with `Operation.emit`.
 * @public
 */
export type Origins = Origin | readonly Origin[] | undefined;

/** The slot, shared by every installed copy of rxfeed in the process (as the context's is). */
interface OriginSlot {
  /** The origins of the item being emitted now. */
  current: Origins;
  /** Takes so far: an emission during which it did not change was dropped. */
  takes: number;
}
const SLOT = Symbol.for('rxfeed.origins.v1');
const slot: OriginSlot =
  ((globalThis as Record<symbol, unknown>)[SLOT] as OriginSlot | undefined) ??
  ((globalThis as Record<symbol, unknown>)[SLOT] = { current: undefined, takes: 0 } as OriginSlot);

/**
 * Emit an item whose origins are `origins`: `deliver` runs with them in the slot. When no stage
 * took the item meanwhile, it was dropped, and its origins are consumed.
 * @internal
 */
export function emitWithOrigins(origins: Origins, deliver: () => void): void {
  const previous = slot.current;
  const takes = slot.takes;
  slot.current = origins;
  try {
    deliver();
  } finally {
    slot.current = previous;
    if (slot.takes === takes) consumeOrigins(origins);
  }
}

/**
 * The origins of the item being delivered now, taken by a stage that holds it; `undefined` when
 * the item arrived outside any emission.
 * @internal
 */
export function takeOrigins(): Origins {
  slot.takes++;
  return slot.current;
}

/**
 * The origins of the item being delivered now, without taking them (an operator that passes the
 * item on or drops it, as `shard` does).
 * @internal
 */
export function peekOrigins(): Origins {
  return slot.current;
}

/** Mark every origin in `origins` consumed. @internal */
export function consumeOrigins(origins: Origins): void {
  if (origins === undefined) return;
  if (!Array.isArray(origins)) {
    const origin = origins as Origin;
    origin.ledger.consume(origin.seq);
    return;
  }
  for (const origin of origins as readonly Origin[]) origin.ledger.consume(origin.seq);
}

/**
 * Append `origins` to a list of origins (a batch's); `false` when they are unknown, so the list
 * means nothing any more.
 * @internal
 */
export function appendOrigins(list: Origin[], origins: Origins): boolean {
  if (origins === undefined) return false;
  if (Array.isArray(origins)) {
    for (const origin of origins as readonly Origin[]) list.push(origin);
  } else {
    list.push(origins as Origin);
  }
  return true;
}
