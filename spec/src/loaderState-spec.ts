import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, map, mergeMap, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { indexedStart, type IndexedPart, type IndexedPlacement } from '../../src/indexedResume.js';
import { ConsumedSet, Remaining, type ConsumedRecord } from '../../src/ledger.js';
import { checkRestoreStates, LoaderStateError, StateTracker, type LoaderState } from '../../src/loaderState.js';
import { Random } from '../../src/random.js';
import { RankPlan, type EndOfEpoch } from '../../src/rankPlan.js';
import { toLoader, type Loader } from '../../src/loader.js';
import { globalShuffle } from '../../src/sampler.js';
import { fromRandomAccess } from '../../sources/core/fromRandomAccess.js';
import { itemsDataset } from '../../sources/core/itemsDataset.js';
import { iterate, until } from './resumeFixtures.js';

const state = (epoch: number, parts: Record<string, unknown> = {}): LoaderState => ({
  format: 'rxfeed.loader-state',
  version: 1,
  epoch,
  parts,
});

/** The set a record describes, as a list within `[0, limit)`. */
function members(record: ConsumedRecord, limit: number): number[] {
  const found: number[] = [];
  for (let seq = 0; seq < Math.min(record.watermark, limit); seq++) found.push(seq);
  for (const seq of record.extras) if (seq < limit) found.push(seq);
  return found;
}

/** A random record over `[0, limit)`: a watermark and a few ascending extras above it. */
function randomRecord(random: Random, limit: number): ConsumedRecord {
  const watermark = random.int(limit + 1);
  const extras: number[] = [];
  for (let seq = watermark + 1; seq < limit; seq++) if (random.int(4) === 0) extras.push(seq);
  return { watermark, extras };
}

function stateError(code: string, part?: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof LoaderStateError, String(error));
    assert.equal(error.code, code);
    if (part !== undefined) assert.equal(error.part, part);
    return true;
  };
}

describe('StateTracker (issue 13)', () => {
  it('issue 13: keys count the parts of each kind and epoch apart', () => {
    const tracker = new StateTracker();
    assert.equal(tracker.keyFor('fromRandomAccess', 0), 'fromRandomAccess#0@0');
    assert.equal(tracker.keyFor('fromRandomAccess', 0), 'fromRandomAccess#1@0');
    assert.equal(tracker.keyFor('fromRandomAccess', 3), 'fromRandomAccess#0@3');
    assert.equal(tracker.keyFor('epochs', 0), 'epochs#0@0');
    assert.equal(tracker.keyFor('fromRandomAccess', 0), 'fromRandomAccess#2@0');
  });

  it('issue 13: register hands each part what every state resumed from saved under its key; save saves every part', () => {
    const tracker = new StateTracker([state(2, { 'a#0@2': 'first', 'b#0@2': 1 }), state(2, { 'a#0@2': 'second' })]);
    assert.deepEqual(tracker.register('a#0@2', { save: () => 'a now' }), ['first', 'second']);
    assert.deepEqual(tracker.register('b#0@2', { save: () => 'b now' }), [1]);
    assert.deepEqual(tracker.register('c#0@2', { save: () => 'c now' }), []);
    assert.deepEqual(tracker.restored('b#0@2'), [1]);
    assert.deepEqual(tracker.save(2), state(2, { 'a#0@2': 'a now', 'b#0@2': 'b now', 'c#0@2': 'c now' }));
    assert.deepEqual(new StateTracker().register('a#0@0', { save: () => 0 }), []);
  });

  it('issue 13: forgetSince drops the parts registered after the mark, and only those', () => {
    const tracker = new StateTracker();
    tracker.register('epochs#0@0', { save: () => 'e' });
    const mark = tracker.registered;
    tracker.register('src#0@0', { save: () => 0 });
    tracker.register('src#1@0', { save: () => 1 });
    assert.equal(tracker.registered, 3);
    tracker.forgetSince(mark);
    assert.equal(tracker.registered, 1);
    tracker.register('src#0@1', { save: () => 2 });
    assert.deepEqual(tracker.save(0).parts, { 'epochs#0@0': 'e', 'src#0@1': 2 });
  });

  it('issue 13: an untracked stage makes save throw RXFEED_ERR_STATE_UNTRACKED naming the first one', () => {
    const tracker = new StateTracker();
    tracker.register('a#0@0', { save: () => 0 });
    tracker.untracked('batch', 'no origins');
    tracker.untracked('prefetch', 'no origins either');
    assert.throws(() => tracker.save(0), stateError('RXFEED_ERR_STATE_UNTRACKED', 'batch'));
    assert.throws(() => tracker.save(0), /Loader\.state: batch: no origins/);
  });
});

describe('checkRestoreStates (issue 13)', () => {
  it('issue 13: takes one state or a list at one epoch', () => {
    assert.deepEqual(checkRestoreStates(state(4)), [state(4)]);
    assert.deepEqual(checkRestoreStates([state(4), state(4, { k: 1 })]), [state(4), state(4, { k: 1 })]);
  });

  it('issue 13: anything else is RXFEED_ERR_STATE_INVALID saying what is wrong and where', () => {
    const cases: [unknown, RegExp][] = [
      [[], /an empty list of states/],
      [null, /toLoader\.state: expected a loader state/],
      ['{"format":"rxfeed.loader-state"}', /expected a loader state/],
      [[state(0), 7], /toLoader\.state\[1\]: expected a loader state/],
      [{ ...state(0), format: 'other' }, /format "other" is not 'rxfeed\.loader-state'/],
      [{ ...state(0), version: 2 }, /version 2 is not 1/],
      [{ ...state(0), epoch: -1 }, /epoch -1 is not a non-negative integer/],
      [{ ...state(0), epoch: 1.5 }, /epoch 1\.5/],
      [{ ...state(0), parts: [] }, /parts .* is not an object/],
      [{ ...state(0), parts: null }, /parts null is not an object/],
      [[state(1), state(2)], /toLoader\.state\[1\]: epoch 2 differs from the first state's 1/],
    ];
    for (const [given, message] of cases) {
      assert.throws(() => checkRestoreStates(given as LoaderState), stateError('RXFEED_ERR_STATE_INVALID'), JSON.stringify(given));
      assert.throws(() => checkRestoreStates(given as LoaderState), message, JSON.stringify(given));
    }
  });
});

describe('ConsumedSet and Remaining (issue 13)', () => {
  it('issue 13: a ConsumedSet fed in any order is the set fed, as a watermark and the extras above it', () => {
    const random = new Random(13);
    for (let round = 0; round < 200; round++) {
      const limit = random.int(60);
      const fed = new Set<number>();
      const set = new ConsumedSet(round % 2 === 0 ? undefined : { watermark: 0, extras: [] });
      for (let draws = random.int(80); draws > 0 && limit > 0; draws--) {
        // Mostly near the watermark, as consumption is: items arrive mostly in order.
        const seq = random.int(4) === 0 ? random.int(limit) : Math.min(limit - 1, set.watermark + random.int(3));
        set.add(seq);
        fed.add(seq);
      }
      let watermark = 0;
      while (fed.has(watermark)) watermark++;
      const extras = [...fed].filter((seq) => seq > watermark).sort((a, b) => a - b);
      assert.deepEqual(set.save(), { watermark, extras }, `round ${round}`);
      assert.equal(set.watermark, watermark);
      assert.equal(set.extraCount, extras.length);
      for (let seq = 0; seq <= limit; seq++) assert.equal(set.has(seq), fed.has(seq), `round ${round} seq ${seq}`);
      // Made again from what it saved, with extras that now reach the watermark: it advances.
      assert.deepEqual(new ConsumedSet(set.save()).save(), { watermark, extras });
    }
    assert.deepEqual(new ConsumedSet({ watermark: 2, extras: [2, 3, 5] }).save(), { watermark: 4, extras: [5] });
  });

  it('issue 13: Remaining.at(j) is the j-th number not consumed, as a brute-force list has it', () => {
    const random = new Random(14);
    for (let round = 0; round < 300; round++) {
      const length = random.int(70);
      const record = randomRecord(random, length + random.int(3)); // may reach past the length
      const consumed = new Set(members(record, length));
      const list = Array.from({ length }, (_, i) => i).filter((i) => !consumed.has(i));
      const remaining = new Remaining(length, record);
      assert.equal(remaining.size, list.length, `round ${round}`);
      list.forEach((expected, j) => assert.equal(remaining.at(j), expected, `round ${round} j ${j}`));
    }
  });
});

/** An indexed part as `fromRandomAccess` saves it. */
function part(placement: IndexedPlacement, consumed: ConsumedRecord, base: ConsumedRecord = { watermark: 0, extras: [] }): IndexedPart {
  return { kind: 'indexed', ...placement, base, consumed };
}

describe('indexedStart (issue 13)', () => {
  const KEY = 'fromRandomAccess#0@0';
  const sampler = { kind: 'shuffle', seed: 3 };
  const at = (worldSize: number, rank: number, batchSize: number, endOfEpoch: EndOfEpoch = 'drop', length = 100): IndexedPlacement => ({
    length,
    sampler,
    worldSize,
    rank,
    batchSize,
    endOfEpoch,
  });

  it('issue 13: a fresh start reads everything; the same plan continues its own rank from its part', () => {
    assert.deepEqual(indexedStart([], at(2, 1, 4), KEY), { base: { watermark: 0, extras: [] }, consumed: { watermark: 0, extras: [] } });
    const own = { watermark: 8, extras: [10, 11] };
    const others = [0, 2, 3].map((rank) => part(at(4, rank, 4), { watermark: 4, extras: [] }));
    const start = indexedStart(
      [...others, part(at(4, 1, 4), own, { watermark: 3, extras: [5] })].map((p) => JSON.parse(JSON.stringify(p)) as unknown),
      at(4, 1, 4),
      KEY,
    );
    assert.deepEqual(start, { base: { watermark: 3, extras: [5] }, consumed: own });
  });

  it('issue 13: on another world size or batch size, every old rank merged gives exactly the global positions they received', () => {
    const random = new Random(15);
    for (let round = 0; round < 300; round++) {
      const length = random.int(120);
      const worldSize = 1 + random.int(4);
      const batchSize = 1 + random.int(6);
      const endOfEpoch = (['drop', 'pad', 'wrap'] as const)[random.int(3)]!;
      const parts = Array.from({ length: worldSize }, (_, rank) => {
        const size = new RankPlan(length, { worldSize, rank, batchSize, endOfEpoch }).size;
        return part(at(worldSize, rank, batchSize, endOfEpoch, length), randomRecord(random, size));
      });
      const received = new Set<number>();
      for (const p of parts) {
        const plan = new RankPlan(length, p);
        for (const k of members(p.consumed, plan.size)) received.add(plan.position(k));
      }
      const here = at(worldSize + 1 + random.int(2), 0, batchSize, endOfEpoch, length);
      const shuffled = [...parts].sort(() => random.int(3) - 1); // any order
      const { base, consumed } = indexedStart(shuffled, here, KEY);
      assert.deepEqual(consumed, { watermark: 0, extras: [] });
      assert.deepEqual(
        members(base, length).sort((a, b) => a - b),
        [...received].sort((a, b) => a - b),
        `round ${round}: N=${length} W=${worldSize} B=${batchSize} ${endOfEpoch} ${JSON.stringify(parts.map((p) => p.consumed))}`,
      );
    }
  });

  it('issue 13: a rank missing, or parts of two runs, on another plan is RXFEED_ERR_STATE_MISMATCH naming the key', () => {
    const nothing = { watermark: 0, extras: [] };
    const ranks = [0, 1, 2].map((rank) => part(at(4, rank, 4), nothing));
    assert.throws(() => indexedStart(ranks, at(2, 0, 4), KEY), stateError('RXFEED_ERR_STATE_MISMATCH', KEY));
    assert.throws(() => indexedStart(ranks, at(2, 0, 4), KEY), /give toLoader the states of all 4 ranks/);
    assert.throws(() => indexedStart([ranks[0]!], at(4, 1, 4), KEY), stateError('RXFEED_ERR_STATE_MISMATCH', KEY));
    const mixed = [...ranks, part(at(4, 3, 2), nothing)];
    assert.throws(() => indexedStart(mixed, at(2, 0, 4), KEY), stateError('RXFEED_ERR_STATE_MISMATCH', KEY));
  });

  it("issue 13: of all the old ranks' states, those with no part are ranks that had not started: they received nothing", () => {
    const nothing = { watermark: 0, extras: [] };
    const started = [part(at(4, 1, 2), { watermark: 2, extras: [] }), part(at(4, 3, 2), { watermark: 1, extras: [] })];
    // Rank 1 received positions 2, 3; rank 3 position 6.
    assert.deepEqual(indexedStart(started, at(2, 0, 4), KEY, 4).base, { watermark: 0, extras: [2, 3, 6] });
    assert.throws(() => indexedStart(started, at(2, 0, 4), KEY, 3), stateError('RXFEED_ERR_STATE_MISMATCH', KEY));
    // A resumed run's rank saves the states it resumed from, so a missing part there is a missing rank.
    const resumed = started.map((p) => ({ ...p, base: { watermark: 4, extras: [] } }));
    assert.throws(() => indexedStart(resumed, at(2, 0, 4), KEY, 4), stateError('RXFEED_ERR_STATE_MISMATCH', KEY));
    assert.deepEqual(indexedStart([part(at(4, 0, 2), nothing)], at(4, 0, 2), KEY, 4).consumed, nothing);
  });

  it('issue 13: a part of another sampler or dataset size is RXFEED_ERR_STATE_MISMATCH naming the key', () => {
    const nothing = { watermark: 0, extras: [] };
    const saved = part(at(1, 0, 4), nothing);
    assert.throws(
      () => indexedStart([{ ...saved, sampler: { kind: 'shuffle', seed: 4 } }], at(1, 0, 4), KEY),
      stateError('RXFEED_ERR_STATE_MISMATCH', KEY),
    );
    assert.throws(() => indexedStart([{ ...saved, length: 99 }], at(1, 0, 4), KEY), /saved reading 99 positions/);
  });

  it('issue 13: a malformed part is RXFEED_ERR_STATE_INVALID naming what is wrong', () => {
    const here = at(2, 0, 4);
    const good = part(here, { watermark: 4, extras: [6] });
    const cases: [unknown, RegExp][] = [
      [null, /expected an indexed source's part/],
      [{ ...good, kind: 'count' }, /expected an indexed source's part/],
      [{ ...good, worldSize: 0 }, /worldSize 0 is not an integer >= 1/],
      [{ ...good, rank: 2 }, /rank 2 is not below worldSize 2/],
      [{ ...good, batchSize: 'four' }, /batchSize "four"/],
      [{ ...good, endOfEpoch: 'keep' }, /endOfEpoch "keep"/],
      [{ ...good, base: { watermark: 101, extras: [] } }, /\.base: watermark 101 is not in \[0, 100\]/],
      [{ ...good, consumed: undefined }, /\.consumed: no consumed set/],
      [{ ...good, consumed: { watermark: 4, extras: [6, 5] } }, /extra 5 is not ascending/],
      [{ ...good, consumed: { watermark: 4, extras: [4] } }, /extra 4 is not ascending/],
      [{ ...good, consumed: { watermark: 60, extras: [] } }, /watermark 60 is not in \[0, 48\]/],
      [{ ...good, consumed: { watermark: 4, extras: 6 } }, /extras is not a list/],
    ];
    for (const [saved, message] of cases) {
      assert.throws(() => indexedStart([saved], here, KEY), stateError('RXFEED_ERR_STATE_INVALID'), JSON.stringify(saved));
      assert.throws(() => indexedStart([saved], here, KEY), message, JSON.stringify(saved));
    }
  });
});

/** Receive one item, then take the state in the loop body. */
async function stateAfterOne<T>(loader: Loader<T>): Promise<unknown> {
  for await (const _ of loader) return loader.state();
  return loader.state();
}

describe('Loader.state: untracked stages and states that do not fit (issue 13)', () => {
  const numbers = (n: number, seed = 5): Observable<number> =>
    fromRandomAccess(itemsDataset(Array.from({ length: n }, (_, i) => i)), { sampler: globalShuffle({ seed }), batchSize: 2 });

  it('issue 13: a stage that cannot be saved makes state() throw RXFEED_ERR_STATE_UNTRACKED naming it', async () => {
    const cases: [string, Observable<unknown>, string][] = [
      ['a plain from([...]) source, batched', from([1, 2, 3, 4]).pipe(batch(2)), 'batch'],
      ['a plain from([...]) source', from([1, 2, 3]).pipe(map((x) => x * 2)), 'toLoader'],
      [
        'mergeMap(async) between source and batch',
        numbers(10).pipe(
          mergeMap(async (x) => x),
          batch(2),
        ),
        'batch',
      ],
    ];
    for (const [what, pipeline, part] of cases) {
      await assert.rejects(stateAfterOne(toLoader(pipeline)), stateError('RXFEED_ERR_STATE_UNTRACKED', part), what);
    }
  });

  it('issue 13: a state of another seed or dataset size is RXFEED_ERR_STATE_MISMATCH naming the part, when the resumed loader starts', async () => {
    const { state } = await until(toLoader(numbers(20).pipe(batch(2))), 3);
    for (const other of [numbers(20, 6), numbers(21)]) {
      const loader = toLoader(other.pipe(batch(2)), { state });
      await assert.rejects(iterate(loader), stateError('RXFEED_ERR_STATE_MISMATCH', 'fromRandomAccess#0@0'));
    }
    assert.equal((await iterate(toLoader(numbers(20).pipe(batch(2)), { state }))).length, 7);
  });

  it('issue 13: garbage given as a state is RXFEED_ERR_STATE_INVALID: at toLoader for the envelope, at the start for a part', async () => {
    for (const garbage of [JSON.parse('"checkpoint"') as unknown, JSON.parse('{"epoch": 3}') as unknown, JSON.parse('[]') as unknown]) {
      assert.throws(() => toLoader(numbers(20), { state: garbage as LoaderState }), stateError('RXFEED_ERR_STATE_INVALID'));
    }
    const { state } = await until(toLoader(numbers(20).pipe(batch(2))), 3);
    const broken = JSON.parse(JSON.stringify(state).replace('"watermark":6', '"watermark":"six"')) as LoaderState;
    await assert.rejects(
      iterate(toLoader(numbers(20).pipe(batch(2)), { state: broken })),
      stateError('RXFEED_ERR_STATE_INVALID', 'fromRandomAccess#0@0.consumed'),
    );
  });
});
