/**
 * Where an indexed source (`fromRandomAccess`) resumes: from its own rank's saved part when the
 * plan is the same, or from every old rank's parts merged when the world size or batch size
 * changed (elastic resume).
 *
 * Positions are counted in the epoch's global order, which does not depend on the world size. A
 * part saves its plan (world size, rank, batch size, end of epoch), the *base* (the global
 * positions consumed before its run started, after an earlier elastic resume) and the plan
 * indices its consumer received. Merging every rank's part gives the global positions consumed:
 * a watermark and the few positions above it. The new run reads the remaining positions, in
 * order, through a new plan: step `s` covers the next `G'` remaining positions. With the global
 * batch `G' = G` and ranks that stopped at the same step, that is exactly the rest of the
 * uninterrupted run's global steps; in any case every position is read once per epoch across the
 * old and new ranks together (with `'drop'`, the new plan's last incomplete step is dropped, as
 * at any epoch's end).
 *
 * @module
 */
import { ConsumedSet, Remaining, checkConsumed, type ConsumedRecord } from './ledger.js';
import { LoaderStateError } from './loaderState.js';
import { describe } from './excerpt.js';
import { RankPlan, type EndOfEpoch } from './rankPlan.js';

/**
 * What the reading subscription is: its order, sampler and placement.
 * @internal
 */
export interface IndexedPlacement {
  /** Positions in the epoch's order. */
  readonly length: number;
  /** The sampler, as its plain data (`'custom'` for an order function). */
  readonly sampler: unknown;
  readonly worldSize: number;
  readonly rank: number;
  readonly batchSize: number;
  readonly endOfEpoch: EndOfEpoch;
}

/**
 * What an indexed source saves in a loader state: its placement, and where it started and got to.
 * @internal
 */
export interface IndexedPart extends IndexedPlacement, IndexedStart {
  readonly kind: 'indexed';
}

/**
 * Where a subscription starts: the base of global positions already consumed, and the plan
 * indices of its own plan already received.
 * @internal
 */
export interface IndexedStart {
  /** Global positions consumed before this run's plan started. */
  readonly base: ConsumedRecord;
  /** This rank's plan indices its consumer received. */
  readonly consumed: ConsumedRecord;
}

const NOTHING: ConsumedRecord = { watermark: 0, extras: [] };

/**
 * Where the subscription placed at `here` starts, given the parts saved under its key by the
 * `states` states being resumed from (none: a fresh start).
 *
 * @throws {@link LoaderStateError} `RXFEED_ERR_STATE_MISMATCH` when the parts are of another
 *   order, or cannot be split over `here` (another plan, and not every old rank's part given);
 *   `RXFEED_ERR_STATE_INVALID` when a part is malformed.
 * @internal
 */
export function indexedStart(saved: readonly unknown[], here: IndexedPlacement, key: string, states = saved.length): IndexedStart {
  if (saved.length === 0) return { base: NOTHING, consumed: NOTHING };
  const parts = saved.map((part) => checkPart(part, here, key));
  const same = parts.find(
    (part) =>
      part.worldSize === here.worldSize &&
      part.rank === here.rank &&
      part.batchSize === here.batchSize &&
      part.endOfEpoch === here.endOfEpoch,
  );
  if (same !== undefined) return { base: same.base, consumed: same.consumed };
  return { base: mergeRanks(withUnstarted(parts, states), here, key), consumed: NOTHING };
}

/**
 * The parts, with a part that received nothing for each rank whose state has none: a rank saves
 * no part for an epoch it had not started (its state before its first batch is the epoch's
 * fresh state), so of `states` states, those without a part are the ranks missing here. Only in
 * a first run of the epoch (no base): a rank of a resumed run saves the states it resumed from.
 */
function withUnstarted(parts: readonly IndexedPart[], states: number): readonly IndexedPart[] {
  const [first] = parts as [IndexedPart];
  const fresh = first.base.watermark === 0 && first.base.extras.length === 0;
  if (!fresh || states !== first.worldSize || parts.length >= states) return parts;
  const ranks = new Set(parts.map((part) => part.rank));
  const unstarted: IndexedPart[] = [];
  for (let rank = 0; rank < first.worldSize && parts.length + unstarted.length < states; rank++) {
    if (!ranks.has(rank)) unstarted.push({ ...first, rank, consumed: NOTHING });
  }
  return [...parts, ...unstarted];
}

/** The global positions consumed by every old rank together, as a base for a new plan. */
function mergeRanks(parts: readonly IndexedPart[], here: IndexedPlacement, key: string): ConsumedRecord {
  const [first] = parts as [IndexedPart];
  const ranks = parts.map((part) => part.rank).sort((a, b) => a - b);
  const complete =
    parts.every(
      (part) =>
        part.worldSize === first.worldSize &&
        part.batchSize === first.batchSize &&
        part.endOfEpoch === first.endOfEpoch &&
        sameRecord(part.base, first.base),
    ) &&
    ranks.length === first.worldSize &&
    ranks.every((rank, i) => rank === i);
  if (!complete) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${key}: rank ${here.rank} of ${here.worldSize} (batch size ${here.batchSize}) cannot resume from the state of ` +
        `rank(s) ${ranks.join(', ')} of ${first.worldSize} (batch size ${first.batchSize}) alone: to resume on another ` +
        `world size or batch size, give toLoader the states of all ${first.worldSize} ranks of the run that saved them`,
      key,
    );
  }
  const old = new Remaining(first.length, first.base);
  const plans = parts.map(
    (part) =>
      new RankPlan(old.size, { worldSize: part.worldSize, rank: part.rank, batchSize: part.batchSize, endOfEpoch: part.endOfEpoch }),
  );
  // Steps every old rank received whole: all their remaining positions are consumed.
  const steps = Math.min(...parts.map((part) => Math.floor(part.consumed.watermark / part.batchSize)));
  const prefix = Math.min(steps * first.worldSize * first.batchSize, old.size);
  // The old ranks' other received plan indices, as positions among the remaining ones.
  const beyond = new Set<number>();
  parts.forEach((part, i) => {
    const plan = plans[i]!;
    const add = (k: number): void => {
      if (k >= plan.size) return;
      const position = plan.position(k);
      if (position >= prefix) beyond.add(position);
    };
    for (let k = steps * part.batchSize; k < part.consumed.watermark; k++) add(k);
    for (const k of part.consumed.extras) add(k);
  });
  // Every global position below the first remaining one not received is consumed.
  const watermark = prefix < old.size ? old.at(prefix) : first.length;
  const merged = new ConsumedSet({ watermark, extras: [] });
  for (const position of first.base.extras) merged.add(position);
  for (const position of beyond) merged.add(old.at(position));
  return merged.save();
}

function sameRecord(a: ConsumedRecord, b: ConsumedRecord): boolean {
  return a.watermark === b.watermark && a.extras.length === b.extras.length && a.extras.every((seq, i) => seq === b.extras[i]);
}

/** A saved part, checked to be an indexed part of the same order as `here`. */
function checkPart(value: unknown, here: IndexedPlacement, key: string): IndexedPart {
  const part = value as Partial<IndexedPart> | null;
  const invalid = (why: string): never => {
    throw new LoaderStateError('RXFEED_ERR_STATE_INVALID', `${key}: ${why}`, key);
  };
  if (typeof part !== 'object' || part === null || part.kind !== 'indexed')
    invalid(`expected an indexed source's part, got ${describe(value)}`);
  const { length, worldSize, rank, batchSize, endOfEpoch } = part!;
  if (length !== here.length || JSON.stringify(part!.sampler) !== JSON.stringify(here.sampler)) {
    throw new LoaderStateError(
      'RXFEED_ERR_STATE_MISMATCH',
      `${key}: the state was saved reading ${describe(length)} positions with sampler ${JSON.stringify(part!.sampler)}, ` +
        `and this source reads ${here.length} with sampler ${JSON.stringify(here.sampler)}`,
      key,
    );
  }
  for (const [name, number, minimum] of [
    ['worldSize', worldSize, 1],
    ['rank', rank, 0],
    ['batchSize', batchSize, 1],
  ] as const) {
    if (!Number.isSafeInteger(number) || number! < minimum) invalid(`${name} ${describe(number)} is not an integer >= ${minimum}`);
  }
  if (rank! >= worldSize!) invalid(`rank ${rank} is not below worldSize ${worldSize}`);
  if (endOfEpoch !== 'drop' && endOfEpoch !== 'pad' && endOfEpoch !== 'wrap') invalid(`endOfEpoch ${describe(endOfEpoch)}`);
  const base = checkConsumed(part!.base, length!, `${key}.base`);
  const planSize = new RankPlan(new Remaining(length!, base).size, {
    worldSize: worldSize!,
    rank: rank!,
    batchSize: batchSize!,
    endOfEpoch: endOfEpoch!,
  }).size;
  const consumed = checkConsumed(part!.consumed, planSize, `${key}.consumed`);
  return {
    kind: 'indexed',
    length: length!,
    sampler: part!.sampler,
    worldSize: worldSize!,
    rank: rank!,
    batchSize: batchSize!,
    endOfEpoch: endOfEpoch!,
    base,
    consumed,
  };
}
