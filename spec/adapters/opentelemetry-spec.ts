// Issue 15 ("Export"): a loader's readings through the OpenTelemetry metrics API, read back through
// the real SDK (a MeterProvider and a MetricReader collecting on demand).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { batch, collate, fromItems, InvalidArgumentError, parallelMap, toLoader, type Loader } from '../../src/index.js';
import { instrumentLoader } from '../../src/adapters/opentelemetry.js';

/** A reader the test collects from when it wants (no timer). */
class OnDemandReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One collection: per metric name, its unit and its values by `rxfeed.stage` ('' for loader-level points). */
async function collect(reader: MetricReader): Promise<Map<string, { unit: string; values: Record<string, number> }>> {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  const found = new Map<string, { unit: string; values: Record<string, number> }>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics as MetricData[]) {
      const values: Record<string, number> = {};
      for (const point of metric.dataPoints) {
        assert.equal(point.attributes['rxfeed.loader'], 'train');
        values[String(point.attributes['rxfeed.stage'] ?? '')] = point.value as number;
      }
      found.set(metric.descriptor.name, { unit: metric.descriptor.unit, values });
    }
  }
  return found;
}

/** The values of one metric by stage, or undefined when the collection has none. */
function values(collected: Map<string, { values: Record<string, number> }>, name: string): Record<string, number> | undefined {
  return collected.get(name)?.values;
}

/**
 * `actual` equals `expected` series by series, but for the last bits: the SDK keeps an observable
 * counter as the sum of the differences between observations (prev + (current - prev)), which can
 * move a float by an ulp.
 */
function assertSeconds(actual: Record<string, number> | undefined, expected: Record<string, number>, name: string): void {
  assert.deepEqual(Object.keys(actual ?? {}).sort(), Object.keys(expected).sort(), name);
  for (const [series, value] of Object.entries(expected)) {
    assert.ok(Math.abs(actual![series]! - value) <= 1e-12 * Math.max(1, value), `${name} ${series}: ${actual![series]} for ${value}`);
  }
}

/** 10 samples, squared in 2 tasks at once, batched by 4 and collated: 3 batches an epoch. */
function pipeline(): Loader<unknown> {
  const samples = fromItems(Array.from({ length: 10 }, (_, index) => index));
  return toLoader(
    samples.pipe(
      parallelMap(async (x: number) => ({ x: x * x }), { concurrency: 2 }),
      batch(4),
      collate(),
    ),
  );
}

const COUNTERS = ['rxfeed.stage.items', 'rxfeed.stage.busy.time', 'rxfeed.stage.empty.time', 'rxfeed.stage.full.time'];
const LOADER_COUNTERS = ['rxfeed.loader.items', 'rxfeed.loader.wait.time', 'rxfeed.loader.busy.time'];
const GAUGES = ['rxfeed.stage.occupancy', 'rxfeed.stage.capacity', 'rxfeed.stage.parallelism'];

describe('instrumentLoader (issue 15: export through OpenTelemetry)', () => {
  it('issue 15: a real pipeline exports exact per-stage and loop counters through the SDK, cumulative and monotonic across two epochs', async () => {
    const reader = new OnDemandReader();
    const provider = new MeterProvider({ readers: [reader] });
    const loader = pipeline();
    const instruments = instrumentLoader(loader, { meter: provider.getMeter('rxfeed'), name: 'train' });

    // Before any iteration: the loop's counters at 0, no stage yet.
    const idle = await collect(reader);
    assert.deepEqual(values(idle, 'rxfeed.loader.items'), { '': 0 });
    assert.equal(values(idle, 'rxfeed.stage.items'), undefined);

    const collections: Map<string, { unit: string; values: Record<string, number> }>[] = [];
    for (let epoch = 0; epoch < 2; epoch++) {
      let received = 0;
      for await (const _batch of loader) {
        if (++received !== 2) continue;
        // Mid-epoch: the active iteration's live readings, on top of what the ended epochs left.
        const live = await collect(reader);
        collections.push(live);
        assert.deepEqual(values(live, 'rxfeed.loader.items'), { '': 3 * epoch + 2 });
        assert.deepEqual(values(live, 'rxfeed.stage.capacity'), { fromItems: 0, parallelMap: 2, collate: 0, loader: 2 });
        assert.deepEqual(values(live, 'rxfeed.stage.parallelism'), { fromItems: 1, parallelMap: 2, collate: 1, loader: 1 });
        const occupancy = values(live, 'rxfeed.stage.occupancy')!;
        assert.deepEqual(Object.keys(occupancy), ['fromItems', 'parallelMap', 'collate', 'loader']);
        assert.ok(occupancy.parallelMap! <= 2 && occupancy.loader! <= 2, JSON.stringify(occupancy));
      }
      const ended = await collect(reader);
      collections.push(ended);
      const epochs = epoch + 1;
      assert.deepEqual(values(ended, 'rxfeed.stage.items'), {
        fromItems: 10 * epochs,
        parallelMap: 10 * epochs,
        collate: 3 * epochs,
        loader: 3 * epochs,
      });
      assert.deepEqual(values(ended, 'rxfeed.loader.items'), { '': 3 * epochs });
      // The times are the loader's own readings, in seconds.
      const sum = loader.readings().ended!;
      const seconds = (pick: (stage: (typeof sum.stages)[number]) => number) =>
        Object.fromEntries(sum.stages.map((stage) => [stage.name, pick(stage) / 1000]));
      for (const kind of ['busy', 'empty', 'full'] as const) {
        const name = `rxfeed.stage.${kind}.time`;
        assertSeconds(
          values(ended, name),
          seconds((stage) => stage[`${kind}Ms`]),
          name,
        );
      }
      assertSeconds(values(ended, 'rxfeed.loader.wait.time'), { '': sum.waitingUpstreamMs / 1000 }, 'rxfeed.loader.wait.time');
      assertSeconds(values(ended, 'rxfeed.loader.busy.time'), { '': sum.consumerBusyMs / 1000 }, 'rxfeed.loader.busy.time');
    }

    // Every counter, every series: never lower than in the collection before.
    for (let index = 1; index < collections.length; index++) {
      for (const name of [...COUNTERS, ...LOADER_COUNTERS]) {
        const before = values(collections[index - 1]!, name)!;
        const after = values(collections[index]!, name)!;
        for (const [series, value] of Object.entries(before)) {
          assert.ok(after[series]! >= value, `${name} ${series}: ${value} then ${after[series]}`);
        }
      }
    }
    const last = collections.at(-1)!;
    assert.deepEqual(
      Object.fromEntries([...last].map(([name, { unit }]) => [name, unit])),
      Object.fromEntries([
        ...[...COUNTERS, ...LOADER_COUNTERS].map((name) => [name, name.endsWith('.items') ? '{item}' : 's']),
        ...GAUGES.map((name) => [name, name.endsWith('.parallelism') ? '{task}' : '{item}']),
      ]),
    );

    // Closed: the loader is no longer read (the SDK repeats the last cumulative values).
    instruments.close();
    for await (const _batch of loader);
    const closed = await collect(reader);
    for (const name of [...COUNTERS, ...LOADER_COUNTERS]) assert.deepEqual(values(closed, name), values(last, name), name);
    await provider.shutdown();
  });

  it('issue 15: with no SDK installed the default meter is a no-op: instrumenting, iterating and disposing throw nothing', async () => {
    const loader = pipeline();
    let batches = 0;
    {
      using _instruments = instrumentLoader(loader);
      for await (const _batch of loader) batches++;
    }
    assert.equal(batches, 3);
  });

  it('issue 15: an empty loader name is refused with RXFEED_ERR_INVALID_ARG naming the option', () => {
    assert.throws(
      () => instrumentLoader(pipeline(), { name: '' }),
      (error: unknown) =>
        error instanceof InvalidArgumentError && error.code === 'RXFEED_ERR_INVALID_ARG' && error.argument === 'instrumentLoader.name',
    );
  });

  it("issue 15: the main entry's module graph never imports @opentelemetry/api (an optional peer, loaded by rxfeed/opentelemetry only)", () => {
    const distSrc = fileURLToPath(new URL('../../src/', import.meta.url));
    const bare = new Set<string>();
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const [, specifier] of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'([^']+)'/g)) {
        if (specifier!.startsWith('.')) visit(resolve(dirname(file), specifier!));
        else
          bare.add(
            specifier!
              .split('/')
              .slice(0, specifier!.startsWith('@') ? 2 : 1)
              .join('/'),
          );
      }
    };
    visit(join(distSrc, 'index.js'));
    assert.ok(seen.size > 50, `walked ${seen.size} modules`);
    assert.deepEqual(
      [...bare].filter((name) => name.startsWith('@opentelemetry')),
      [],
    );
    visit(join(distSrc, 'adapters', 'opentelemetry.js'));
    assert.ok(bare.has('@opentelemetry/api'), 'the subpath does import it');
  });
});
