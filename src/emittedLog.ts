/**
 * What a reordering stage (`shuffleBuffer`, `mix`) saves in a loader state besides its own
 * numbers: the items it emitted that the consumer has not received yet, as references to their
 * source items, so a resumed stage emits them again first, in the same order.
 *
 * @module
 */
import { LoaderStateError } from './loaderState.js';
import { describe } from './excerpt.js';
import type { Operation } from './operate.js';
import { OriginList, type Origin, type Origins } from './origins.js';

/**
 * One source item in a saved state: its source's ledger key and its number there.
 * @internal
 */
export type OriginRef = readonly [string, number];

/**
 * Whether every origin in `origins` was consumed (unknown origins never are).
 * @internal
 */
export function isConsumed(origins: Origins): boolean {
  if (origins === undefined) return false;
  if (origins instanceof OriginList) return origins.seqs.every((seq, i) => origins.ledgers[i]!.consumed(seq));
  return origins.ledger.consumed(origins.seq);
}

/**
 * The reference saved for an item made from one source item; a stage that saves references takes
 * only such items (it records the state untracked otherwise).
 * @internal
 */
export function originRef(origins: Origins, key: string): OriginRef {
  if (origins === undefined || origins instanceof OriginList) {
    throw new LoaderStateError('RXFEED_ERR_STATE_UNTRACKED', `${key}: an item it holds has no single origin`, key);
  }
  const origin = origins as Origin;
  return [origin.ledger.key, origin.seq];
}

/**
 * The identity of an item made from one source item, the same in the run that saved a state and
 * in the one resuming from it; `undefined` for any other item.
 * @internal
 */
export function originId(origins: Origins): string | undefined {
  if (origins === undefined || origins instanceof OriginList) return undefined;
  const origin = origins as Origin;
  return `${origin.ledger.key}\u0000${origin.seq}`;
}

/** The identity of a saved reference (see {@link originId}). @internal */
export function refId([ledger, seq]: OriginRef): string {
  return `${ledger}\u0000${seq}`;
}

/**
 * Check a saved list of references, each of a distinct item (also from those in `seen`, which
 * it adds to: a stage saving several lists shares one).
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_INVALID` naming `key` and `name`.
 * @internal
 */
export function checkRefs(list: unknown, key: string, name: string, seen = new Set<string>()): readonly OriginRef[] {
  if (!Array.isArray(list)) throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${name} is not a list`, key);
  for (const ref of list as unknown[]) {
    if (!Array.isArray(ref) || ref.length !== 2 || typeof ref[0] !== 'string' || !Number.isSafeInteger(ref[1]) || (ref[1] as number) < 0) {
      throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${name} holds ${describe(ref)}, not [ledger key, item number]`, key);
    }
    // One source item is in one place: a second would leave the first place empty forever.
    const id = refId(ref as unknown as OriginRef);
    if (seen.has(id)) throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${name} holds ${describe(ref)} twice`, key);
    seen.add(id);
  }
  return list as readonly OriginRef[];
}

/**
 * The origins of the items a stage emitted and the consumer has not received, in order. Only its
 * head is checked as items go, so it holds about what the stages downstream hold.
 * @internal
 */
export class EmittedLog {
  readonly #entries: Origins[] = [];
  /** Items forgotten at the head, all received: with those received before it (a resumed count). */
  passed = 0;

  /** Record an item emitted now; call {@link EmittedLog.prune} once the emission returned. */
  push(origins: Origins): void {
    // Without origins the state cannot be taken anyway (the loader says why): keep nothing.
    if (origins !== undefined) this.#entries.push(origins);
  }

  /** Emit `value` through `op` with its origins, recorded, then forget what was received. */
  emit<T>(op: Operation<T>, value: T, origins: Origins): void {
    this.push(origins);
    op.emit(value, origins);
    this.prune();
  }

  /** Forget the received items at the head. */
  prune(): void {
    while (this.#entries.length > 0 && isConsumed(this.#entries[0])) {
      this.#entries.shift();
      this.passed++;
    }
  }

  /** The items not received, as references, in the order they were emitted. */
  refs(key: string): OriginRef[] {
    return this.#entries.filter((origins) => !isConsumed(origins)).map((origins) => originRef(origins, key));
  }
}
