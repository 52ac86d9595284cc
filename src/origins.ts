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
 *   emits (`Operation.emit`); a stage that combines items (`batch`, `padToBatch`)
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
 * Why an item that arrives without origins makes a loader state untracked.
 * @internal
 */
export const UNKNOWN_ORIGINS =
  'an item arrived without origins: it came from a plain Observable, or a plain RxJS operator upstream ' +
  'emitted it later (mergeMap over a promise, delay, observeOn); use rxfeed sources and parallelMap/prefetch';

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
 * The origins of an item made of several (a batch's rows): kept as two parallel arrays, not an
 * object per row, so the rows' own origin objects die young (the profile of a source into
 * `batch(256)` spent as long collecting them, kept alive in a list, as emitting the rows).
 * @public
 */
export class OriginList {
  /** Each origin's ledger. */
  readonly ledgers: Ledger[] = [];
  /** Each origin's item number, beside its ledger. */
  readonly seqs: number[] = [];

  /** How many origins it holds. */
  get length(): number {
    return this.seqs.length;
  }
}

/**
 * The origins of one item: one origin, the list of a batch's, or `undefined` when unknown. An
 * operator written with the operator kit that holds items takes them with
 * `Operation.takeOrigins` and emits them with `Operation.emit`.
 * @public
 */
export type Origins = Origin | OriginList | undefined;

/** The slot, shared by every installed copy of rxfeed in the process (as the context's is). @internal */
export interface OriginSlot {
  /** The origins of the item being emitted now (when `ledger` is undefined). */
  current: Origins;
  /**
   * The one origin of the item being emitted now, as its two parts: a source emits so, with no
   * object per item (each one raised the collector's work on a stream of large items).
   */
  ledger: Ledger | undefined;
  seq: number;
  /** Takes so far: an emission during which it did not change was dropped. */
  takes: number;
}
const SLOT = Symbol.for('rxfeed.origins.v1');
/** @internal The slot itself, for the operator kit's `emit` (one call per item: no closure). */
export const slot: OriginSlot =
  ((globalThis as Record<symbol, unknown>)[SLOT] as OriginSlot | undefined) ??
  ((globalThis as Record<symbol, unknown>)[SLOT] = { current: undefined, ledger: undefined, seq: 0, takes: 0 } as OriginSlot);

/**
 * The origins of the item being delivered now, taken by a stage that holds it; `undefined` when
 * the item arrived outside any emission.
 * @internal
 */
export function takeOrigins(): Origins {
  slot.takes++;
  return slot.ledger === undefined ? slot.current : { ledger: slot.ledger, seq: slot.seq };
}

/**
 * {@link takeOrigins}, appended to `list` (a batch's) with no object made for a single origin;
 * `false` when they are unknown.
 * @internal
 */
export function takeOriginsInto(list: OriginList): boolean {
  slot.takes++;
  if (slot.ledger === undefined) return appendOrigins(list, slot.current);
  list.ledgers.push(slot.ledger);
  list.seqs.push(slot.seq);
  return true;
}

/**
 * The number of the item being delivered now in its source, when it has a single origin, without
 * taking it (`shard` passes the item on or drops it); undefined when its origins are unknown or
 * several. Makes no origin object: it runs for every item of every rank.
 * @internal
 */
export function peekSeq(): number | undefined {
  if (slot.ledger !== undefined) return slot.seq;
  const current = slot.current;
  return current === undefined || current instanceof OriginList ? undefined : current.seq;
}

/** Mark every origin in `origins` consumed. @internal */
export function consumeOrigins(origins: Origins): void {
  if (origins === undefined) return;
  if (!(origins instanceof OriginList)) {
    origins.ledger.consume(origins.seq);
    return;
  }
  const { ledgers, seqs } = origins;
  for (let i = 0; i < seqs.length; i++) ledgers[i]!.consume(seqs[i]!);
}

/**
 * Append `origins` to a list of origins (a batch's); `false` when they are unknown, so the list
 * means nothing any more.
 * @internal
 */
export function appendOrigins(list: OriginList, origins: Origins): boolean {
  if (origins === undefined) return false;
  if (origins instanceof OriginList) {
    for (let i = 0; i < origins.seqs.length; i++) {
      list.ledgers.push(origins.ledgers[i]!);
      list.seqs.push(origins.seqs[i]!);
    }
  } else {
    list.ledgers.push(origins.ledger);
    list.seqs.push(origins.seq);
  }
  return true;
}
