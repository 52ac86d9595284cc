import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstValueFrom, map, Observable, tap, timer, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  AUTOTUNE_MARGIN,
  AUTOTUNE_RETRY_PERIODS,
  fromItems,
  fromPuller,
  InvalidArgumentError,
  PARALLEL_MAP_AUTO_MAX,
  parallelMap,
  prefetch,
  toLoader,
  type Executor,
  type FlowMetrics,
  type KnobDecision,
  type TaskReference,
} from '../../src/index.js';

/** Each task past the cores slows every running task by this fraction more (context switches). */
const OVERHEAD = 0.1;
/** The controller's period in the simulations, in frames (virtual milliseconds). */
const PERIOD = 500;
/** Threads the simulated pool offers: the most an 'auto' stage may reach. */
const THREADS = 8;

/**
 * A worker pool on a CPU of `cores` cores, in virtual time: processor sharing, so `k > cores`
 * running tasks each run `k / cores` times slower, and `1 + OVERHEAD x (k - cores)` slower again.
 * With `threads`, a pool of that many threads: tasks past them wait, in order, using no core.
 */
class SimulatedCpu implements Executor {
  readonly concurrency = THREADS;
  readonly threads: number | undefined;
  readonly #scheduler: TestScheduler;
  readonly #cores: number;
  readonly #cost: (index: number) => number;
  readonly #jobs = new Set<{ remaining: number; finish: () => void }>();
  #updated = 0;
  #next: Subscription | undefined;

  constructor(scheduler: TestScheduler, cores: number, cost: (index: number) => number, threads?: number) {
    this.#scheduler = scheduler;
    this.#cores = cores;
    this.#cost = cost;
    this.threads = threads;
  }

  /** The tasks running now: the first `threads` (all of them without a pool). */
  #running(): { remaining: number; finish: () => void }[] {
    return [...this.#jobs].slice(0, this.threads ?? this.#jobs.size);
  }

  run<T, R>(_task: unknown, value: T, { index }: { index: number }): Observable<R> {
    return new Observable<R>((subscriber) => {
      this.#advance();
      const job = {
        remaining: this.#cost(index),
        finish: () => {
          subscriber.next(value as unknown as R);
          subscriber.complete();
        },
      };
      this.#jobs.add(job);
      this.#reschedule();
      return () => {
        if (!this.#jobs.has(job)) return;
        this.#advance();
        this.#jobs.delete(job);
        this.#reschedule();
      };
    });
  }

  #speed(): number {
    const running = this.#running().length;
    return running <= this.#cores ? 1 : this.#cores / running / (1 + OVERHEAD * (running - this.#cores));
  }

  #advance(): void {
    const now = this.#scheduler.now();
    const speed = this.#speed();
    for (const job of this.#running()) job.remaining -= (now - this.#updated) * speed;
    this.#updated = now;
  }

  #reschedule(): void {
    this.#next?.unsubscribe();
    this.#next = undefined;
    if (this.#jobs.size === 0) return;
    const soonest = Math.min(...this.#running().map((job) => job.remaining));
    this.#next = this.#scheduler.schedule(() => this.#complete(), Math.max(0, soonest / this.#speed()));
  }

  #complete(): void {
    this.#advance();
    const done = this.#running().filter((job) => job.remaining <= 1e-9);
    for (const job of done) this.#jobs.delete(job);
    this.#reschedule();
    for (const job of done) job.finish();
  }
}

/** A pipeline's costs, in frames: per item read, per task (by item index), per consumer step. */
interface Mix {
  readonly source: number | ((index: number) => number);
  /** The loader's queue (`prefetch`); default 2. */
  readonly queue?: number | 'auto';
  readonly task: (index: number) => number;
  readonly consumer: number;
  readonly cores: number;
  /** Threads of the simulated pool; default: every task in flight runs. */
  readonly threads?: number;
  /** The autotuner's CPU budget; default THREADS. */
  readonly cpus?: number;
  readonly items: number;
  /** Bytes of item `index` (default 8). */
  readonly bytes?: (index: number) => number;
}

interface Run {
  /** Virtual time at which the consumer received each item. */
  readonly times: number[];
  /** Items the consumer received, in order. */
  readonly received: number[];
  /** Every 10 frames: the reading of the iteration's Flow. */
  readonly readings: FlowMetrics[];
  /** Virtual time at which the source read each item. */
  readonly readAt: number[];
  /** Bytes held by parallelMap (entered, not yet emitted) whenever that changed, with the time. */
  readonly held: [number, number][];
}

/** A task given as a module export: it runs on the (simulated) worker pool, a core each. */
const decode: TaskReference<Uint8Array, Uint8Array> = { module: 'simulated', exportName: 'decode' };

/**
 * Run `mix` through `fromPuller -> parallelMap -> toLoader` and a `for await` consumer, in
 * virtual time: the scheduler is advanced one instant at a time, and the promises of the loop
 * settle between instants.
 */
async function simulate(
  mix: Mix,
  concurrency: number | 'auto',
  autotune: { cpus?: number; memoryBytes?: number } = {},
  iterations = 1,
): Promise<Run> {
  const scheduler = new TestScheduler(assert.deepEqual);
  const bytes = mix.bytes ?? (() => 8);
  const sizes = new Map<Uint8Array, number>();
  const source = fromPuller(
    () => {
      let next = 0;
      return {
        pull: () => {
          if (next >= mix.items) return null;
          const index = next++;
          return timer(typeof mix.source === 'number' ? mix.source : mix.source(index), scheduler).pipe(
            map(() => {
              const item = new Uint8Array(bytes(index));
              run.readAt.push(scheduler.now());
              sizes.set(item, index);
              return [item];
            }),
          );
        },
      };
    },
    {},
    'source',
  );
  const run: Run = { times: [], received: [], readAt: [], readings: [], held: [] };
  let held = 0;
  const pipeline = source.pipe(
    tap((item) => run.held.push([scheduler.now(), (held += item.byteLength)])),
    parallelMap(decode, { concurrency, executor: new SimulatedCpu(scheduler, mix.cores, mix.task, mix.threads) }),
    tap((item) => run.held.push([scheduler.now(), (held -= item.byteLength)])),
  );
  const loader = toLoader(pipeline, {
    scheduler,
    prefetch: mix.queue ?? 2,
    autotune: { cpus: mix.cpus ?? THREADS, ...autotune, periodMs: PERIOD },
  });
  const readings = loader.metrics(10).subscribe((all) => run.readings.push(...all));
  let done = false;
  let failure: unknown;
  void (async () => {
    for (let iteration = 0; iteration < iterations; iteration++) {
      for await (const item of loader) {
        run.times.push(scheduler.now());
        run.received.push(sizes.get(item)!);
        await new Promise((resolve) => scheduler.schedule(resolve, mix.consumer));
      }
    }
  })().then(
    () => (done = true),
    (error: unknown) => {
      failure = error;
      done = true;
    },
  );
  while (!done) {
    await new Promise((resolve) => setImmediate(resolve));
    if (done) break;
    const action = scheduler.actions[0];
    assert.ok(action !== undefined, 'the simulation stalled');
    scheduler.maxFrames = action.delay;
    scheduler.flush();
  }
  readings.unsubscribe();
  if (failure !== undefined) throw failure;
  assert.deepEqual(
    run.received,
    Array.from({ length: mix.items * iterations }, (_, i) => i % mix.items),
    'every item, in order',
  );
  return run;
}

/** Items per frame the consumer received between item `from` and item `to`. */
function rate(run: Run, from: number, to: number): number {
  return (to - from) / (run.times[to]! - run.times[from]!);
}

/**
 * Fixed concurrencies 1..THREADS on the same simulation: the best throughput, and the least
 * concurrency within AUTOTUNE_MARGIN of it (more buys less than the margin).
 */
async function sweep(mix: Mix): Promise<{ best: number; rates: number[] }> {
  const rates: number[] = [];
  for (let concurrency = 1; concurrency <= THREADS; concurrency++) {
    const run = await simulate(mix, concurrency);
    rates.push(rate(run, Math.floor(mix.items / 4), mix.items - 1));
  }
  const top = Math.max(...rates);
  return { best: rates.findIndex((value) => value * (1 + AUTOTUNE_MARGIN) >= top) + 1, rates };
}

/**
 * The parallelMap decision of the last reading before the consumer had received `count` items,
 * a trial in progress aside (a retry of a reverted raise is not where it settled).
 */
function decidedBefore(run: Run, count: number): KnobDecision {
  return run.readings
    .filter((metrics) => metrics.consumed < count)
    .map((metrics) => metrics.autotune!.find((decision) => decision.name === 'parallelMap')!)
    .filter((decision) => !decision.reason.startsWith('trying'))
    .at(-1)!;
}

describe('autotune', () => {
  const mixes: [string, Mix][] = [
    ['decode-bound', { source: 2, task: () => 12, consumer: 1, cores: 2, items: 1200 }],
    ['decode-bound on 4 cores, then source-bound', { source: 5, task: () => 12, consumer: 1, cores: 4, items: 1500 }],
    // Tasks past the pool's threads wait in its queue and use no core: the budget does not bind.
    [
      'decode-bound, a pool of 2 threads on 2 cores, a CPU budget of 2',
      { source: 2, task: () => 12, consumer: 1, cores: 2, threads: 2, cpus: 2, items: 1200 },
    ],
    ['source-bound', { source: 10, task: () => 6, consumer: 1, cores: 2, items: 600 }],
    ['consumer-bound', { source: 2, task: () => 6, consumer: 12, cores: 2, items: 600 }],
  ];
  for (const [name, mix] of mixes) {
    it(`issue 15: converges to the concurrency a sweep finds best (${name})`, async () => {
      const { best, rates } = await sweep(mix);
      const run = await simulate(mix, 'auto');
      const settled = decidedBefore(run, mix.items);
      assert.equal(settled.value, best, `${settled.reason}; sweep ${rates.map((r) => r.toFixed(4)).join(' ')}`);
      // A pool's queued tasks use no core: the measurement, not the CPU budget, stopped the climb.
      if (mix.threads !== undefined) assert.match(settled.reason, /^reverted to \d+: raising to \d+ did not pay/);
      // Over its last quarter the tuned run is as fast as the best fixed setting, within the margin.
      const tuned = rate(run, Math.floor((mix.items * 3) / 4), mix.items - 1);
      assert.ok(tuned * (1 + AUTOTUNE_MARGIN) >= Math.max(...rates), `${tuned} vs ${Math.max(...rates)}`);
    });
  }

  it('issue 15: keeps worker tasks in flight within the CPU budget plus one to feed the cores', async () => {
    const mix: Mix = { source: 2, task: () => 12, consumer: 1, cores: 8, items: 800 };
    const run = await simulate(mix, 'auto', { cpus: 2 });
    const values = run.readings.map((metrics) => metrics.autotune![0]!.value);
    assert.equal(Math.max(...values), 3);
    assert.equal(decidedBefore(run, mix.items).reason, 'held at 3: the CPU budget (2 cores)');
  });

  it('issue 15: tries a reverted raise again after AUTOTUNE_RETRY_PERIODS periods, and reverts it again', async () => {
    const mix: Mix = { source: 2, task: () => 12, consumer: 1, cores: 2, items: 4000 };
    const run = await simulate(mix, 'auto');
    // When each reason first appeared, in order.
    const changes: [number, string][] = [];
    for (const metrics of run.readings) {
      const { reason } = metrics.autotune![0]!;
      if (changes.at(-1)?.[1] !== reason) changes.push([metrics.time, reason]);
    }
    // Raises grow (1, then 2): 5 did not pay, then 4 (a step of one) did not, and waits to be retried.
    const reverts = changes.filter(([, reason]) => reason.startsWith('reverted to 3: raising to 4 '));
    assert.ok(reverts.length >= 2, JSON.stringify(changes));
    const retry = changes.find(([time, reason]) => time > reverts[0]![0] && reason.startsWith('trying 4'))!;
    // The revert's period settles, then AUTOTUNE_RETRY_PERIODS clean periods pass.
    assert.equal(retry[0] - reverts[0]![0], (AUTOTUNE_RETRY_PERIODS + 1) * PERIOD);
    assert.equal(decidedBefore(run, mix.items).value, 3);
  });

  it("issue 15: the loader's next iteration starts where the last one left its knobs", async () => {
    const mix: Mix = { source: 2, task: () => 12, consumer: 1, cores: 2, items: 1200 };
    const run = await simulate(mix, 'auto', {}, 2);
    const second = run.readings.findIndex((metrics, i) => i > 0 && metrics.consumed < run.readings[i - 1]!.consumed);
    const first = run.readings.slice(0, second);
    const ended = first.at(-1)!.autotune![0]!.value;
    assert.equal(ended, (await sweep(mix)).best);
    assert.deepEqual(
      run.readings[second]!.autotune!.map(({ value, reason }) => [value, reason]),
      [[ended, 'kept from the last epoch or iteration']],
    );
  });

  it('issue 15: stays within the memory budget, and backs off when items grow past it', async () => {
    const budget = 2500;
    const small = 1000;
    const large = 2000;
    const growsAt = 800;
    const mix: Mix = {
      source: 2,
      task: () => 12,
      consumer: 1,
      cores: 4,
      items: 1600,
      bytes: (index) => (index < growsAt ? small : large),
    };
    const run = await simulate(mix, 'auto', { memoryBytes: budget });
    // Four cores would take four tasks; the budget holds floor(budget / bytes) items.
    const before = decidedBefore(run, growsAt);
    assert.equal(before.value, Math.floor(budget / small));
    assert.equal(before.reason, `held at 2: one more item would pass the memory budget (${budget} bytes)`);
    const after = decidedBefore(run, mix.items);
    assert.equal(after.value, Math.floor(budget / large));
    assert.equal(after.reason, `held at 1: one more item would pass the memory budget (${budget} bytes)`);
    const reasons = new Set(run.readings.map((metrics) => metrics.autotune![0]!.reason));
    assert.ok([...reasons].some((reason) => /^lowered to 1: items of \d+ bytes held past the memory budget \(2500\)$/.test(reason)));
    // Never raised past the budget before the items grew.
    const grewAt = run.readAt[growsAt]!;
    assert.ok(run.held.filter(([time]) => time < grewAt).every(([, bytes]) => bytes <= budget));
    // Once the items held when it backed off have left (a period later), never above the budget.
    const backedOff = run.readings.find((metrics) => metrics.autotune![0]!.value === 1 && metrics.time > grewAt)!.time;
    const settled = run.held.filter(([time]) => time >= backedOff + PERIOD);
    assert.ok(settled.length > 0);
    assert.deepEqual(
      settled.filter(([, bytes]) => bytes > budget),
      [],
    );
  });

  it('issue 15: follows the task cost when it changes mid-run', async () => {
    const cheap = 3;
    const dear = 18;
    const phases = [800, 2400, 4000];
    const cost = (index: number): number => (index < phases[0]! || index >= phases[1]! ? cheap : dear);
    const mix: Mix = { source: 5, task: cost, consumer: 1, cores: 4, items: phases[2]! };
    const cheapBest = (await sweep({ ...mix, task: () => cheap, items: 400 })).best;
    const dearBest = (await sweep({ ...mix, task: () => dear, items: 400 })).best;
    assert.ok(dearBest > cheapBest);
    const run = await simulate(mix, 'auto');
    assert.deepEqual(
      phases.map((end) => decidedBefore(run, end).value),
      [cheapBest, dearBest, cheapBest],
    );
  });

  it("issue 15: the loader's prefetch 'auto' grows until a jittery source no longer starves the consumer", async () => {
    // Eight quick reads, then a slow one: on average faster than the consumer, but only a queue
    // deep enough to outlast the slow read keeps the consumer fed.
    const mix: Mix = { source: (index) => (index % 9 === 8 ? 40 : 1), task: () => 0, consumer: 6, cores: 1, items: 3000 };
    const rates: number[] = [];
    for (let queue = 1; queue <= 12; queue++) {
      const run = await simulate({ ...mix, queue, items: 600 }, 1);
      rates.push(rate(run, 150, 599));
    }
    const top = Math.max(...rates);
    const best = rates.findIndex((value) => value * (1 + AUTOTUNE_MARGIN) >= top) + 1;
    assert.ok(best > 2, `a queue of 2 keeps up: ${rates.join(' ')}`);
    const run = await simulate({ ...mix, queue: 'auto' }, 1);
    const reading = run.readings.filter((metrics) => !metrics.autotune![0]!.reason.startsWith('trying')).at(-1)!;
    assert.equal(reading.autotune![0]!.name, 'loader');
    assert.equal(reading.autotune![0]!.value, best, `${reading.autotune![0]!.reason}; sweep ${rates.join(' ')}`);
  });

  it('issue 15: lowering a capacity keeps every item in order (prefetch and loader queue)', async () => {
    const scheduler = new TestScheduler(assert.deepEqual);
    let next = 0;
    const source = fromPuller(() => ({
      pull: () => (next < 300 ? timer(1, scheduler).pipe(map(() => [new Uint8Array(next++ < 150 ? 100 : 400)])) : null),
    }));
    const loader = toLoader(source.pipe(prefetch('auto')), {
      scheduler,
      prefetch: 'auto',
      autotune: { memoryBytes: 1000, periodMs: 20 },
    });
    const sizes: number[] = [];
    let done = false;
    void (async () => {
      for await (const item of loader) {
        sizes.push(item.byteLength);
        await new Promise((resolve) => scheduler.schedule(resolve, 2));
      }
    })().then(() => (done = true));
    const readings: FlowMetrics[] = [];
    const metrics = loader.metrics(20).subscribe((all) => readings.push(...all));
    while (!done) {
      await new Promise((resolve) => setImmediate(resolve));
      if (done) break;
      scheduler.maxFrames = scheduler.actions[0]!.delay;
      scheduler.flush();
    }
    metrics.unsubscribe();
    assert.deepEqual(sizes, [...Array<number>(150).fill(100), ...Array<number>(150).fill(400)]);
    // Two buffers of 2 items of 400 bytes would pass 1000 bytes: one was lowered to 1.
    const last = readings.at(-1)!.autotune!;
    assert.deepEqual(
      last.map(({ name, value }) => [name, value]).sort(),
      [
        ['loader', 1],
        ['prefetch', 1],
      ].sort(),
    );
  });

  it("issue 15: with timing off, an 'auto' stage keeps its initial value and says why", async () => {
    const loader = toLoader(fromItems([...Array(20).keys()]).pipe(parallelMap(async (x: number) => x, { concurrency: 'auto' })), {
      timing: false,
      autotune: { periodMs: 1 },
    });
    let reading: FlowMetrics | undefined;
    let count = 0;
    for await (const item of loader) {
      assert.equal(item, count++);
      if (item === 10) [reading] = await firstValueFrom(loader.metrics(0));
    }
    assert.deepEqual(reading!.autotune, [
      {
        name: 'parallelMap',
        kind: 'parallelism',
        value: 1,
        min: 1,
        max: PARALLEL_MAP_AUTO_MAX,
        bytesPerItem: 8,
        reason: 'initial value: timing is off, so nothing is measured to tune by',
      },
    ]);
  });

  it('issue 15: refuses autotune options out of their bounds', () => {
    const source = fromPuller(() => ({ pull: () => null }));
    const cases: [object, string][] = [
      [{ cpus: 0 }, 'toLoader.autotune.cpus'],
      [{ cpus: 1.5 }, 'toLoader.autotune.cpus'],
      [{ memoryBytes: -1 }, 'toLoader.autotune.memoryBytes'],
      [{ periodMs: 0 }, 'toLoader.autotune.periodMs'],
      [{ periodMs: Number.POSITIVE_INFINITY }, 'toLoader.autotune.periodMs'],
    ];
    for (const [autotune, argument] of cases) {
      assert.throws(
        () => toLoader(source, { autotune }),
        (error: unknown) => error instanceof InvalidArgumentError && error.argument === argument,
      );
    }
    assert.throws(
      () => toLoader(source, { prefetch: 'fast' as 'auto' }),
      (error: unknown) => error instanceof InvalidArgumentError && error.argument === 'toLoader.prefetch',
    );
  });
});
