/**
 * rxfeed's figures through the OpenTelemetry metrics API (`rxfeed/opentelemetry`), so they land in
 * Prometheus or Grafana beside the application's other metrics.
 *
 * `@opentelemetry/api` is an optional peer, loaded only by this subpath: the API is a no-op until
 * the application installs an SDK (a `MeterProvider` with a reader or exporter). The instruments
 * are observable: their values are read from the loader when the SDK collects, so nothing is
 * recorded per item beyond the Flow's own counters.
 *
 * @module rxfeed/opentelemetry
 */
import {
  metrics,
  type Attributes,
  type BatchObservableCallback,
  type Meter,
  type Observable as ObservableInstrument,
} from '@opentelemetry/api';
import { InvalidArgumentError } from '../errors.js';
import { addStageCounters, zeroStageCounters, type FlowMetrics, type StageCounters } from '../flow.js';
import type { Loader } from '../loader.js';
import { packageVersion } from '../version.js';

/**
 * Options of {@link instrumentLoader}.
 * @public
 */
export interface InstrumentLoaderOptions {
  /**
   * The meter to create the instruments on; default `metrics.getMeter('rxfeed', <rxfeed's
   * version>)` from the global `MeterProvider` (a no-op until the application installs an SDK).
   */
  readonly meter?: Meter;
  /**
   * The value of the `rxfeed.loader` attribute on every data point, to tell loaders apart (`train`,
   * `eval`); default `'loader'`. Instrument two loaders with two names.
   */
  readonly name?: string;
}

/**
 * What {@link instrumentLoader} returns: close it (or leave its `using` block) to remove the
 * instruments' callback, so the loader is no longer read.
 * @public
 */
export interface LoaderInstruments extends Disposable {
  /** Remove the callback; the instruments report nothing more. Idempotent. */
  close(): void;
}

/** Attribute naming a loader (see {@link InstrumentLoaderOptions.name}). */
const LOADER = 'rxfeed.loader';
/** Attribute naming a stage. */
const STAGE = 'rxfeed.stage';

/**
 * Export a loader's readings through the OpenTelemetry metrics API, as observable instruments read
 * at collection time.
 *
 * Per stage (attributes `rxfeed.loader` and `rxfeed.stage`, the stage's name):
 * - `rxfeed.stage.items` (counter, `{item}`): items that left the stage.
 * - `rxfeed.stage.busy.time` (counter, `s`): work the stage reported, summed over its workers.
 * - `rxfeed.stage.empty.time` (counter, `s`): time it held nothing (it waited on upstream).
 * - `rxfeed.stage.full.time` (counter, `s`): time it was at capacity (upstream waited on it).
 * - `rxfeed.stage.occupancy`, `rxfeed.stage.capacity` (gauges, `{item}`) and
 *   `rxfeed.stage.parallelism` (gauge, `{task}`): now, over the running iterations (none while
 *   the loader is idle).
 *
 * Per loader (attribute `rxfeed.loader`):
 * - `rxfeed.loader.wait.time` (counter, `s`): time the loop waited for a batch.
 * - `rxfeed.loader.busy.time` (counter, `s`): time the loop's body ran (the model's step).
 * - `rxfeed.loader.items` (counter, `{item}`): items handed to the loop.
 *
 * Counters are cumulative over the loader's life: the sum of every ended iteration's final
 * reading plus the running ones' (see {@link Loader.readings}), so they never go back when an
 * iteration ends and the next begins; as a guard, a series never reports less than it did.
 *
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics';
 * import { batch, fromItems, toLoader } from 'rxfeed';
 * import { instrumentLoader } from 'rxfeed/opentelemetry';
 * declare const provider: MeterProvider; // the application's, with its Prometheus or OTLP exporter
 * declare function step(batch: number[]): Promise<void>;
 * const loader = toLoader(fromItems([1, 2, 3, 4, 5, 6]).pipe(batch(2)));
 * using _instruments = instrumentLoader(loader, { name: 'train', meter: provider.getMeter('rxfeed') });
 * for await (const rows of loader) await step(rows);
 * ```
 *
 * @param loader - The loader to read.
 * @param options - See {@link InstrumentLoaderOptions}.
 * @returns The instruments' handle: close it when the loader is done with.
 * @throws {@link rxfeed!InvalidArgumentError} `RXFEED_ERR_INVALID_ARG` when `name` is not a non-empty string.
 * @public
 */
export function instrumentLoader(loader: Loader<unknown>, options: InstrumentLoaderOptions = {}): LoaderInstruments {
  const name = options.name ?? 'loader';
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError('instrumentLoader.name', `must be a non-empty string, got ${JSON.stringify(name)}`);
  }
  const meter = options.meter ?? metrics.getMeter('rxfeed', packageVersion());
  const counter = (metric: string, unit: string, description: string) => meter.createObservableCounter(metric, { unit, description });
  const gauge = (metric: string, unit: string, description: string) => meter.createObservableGauge(metric, { unit, description });
  const stageItems = counter('rxfeed.stage.items', '{item}', 'Items that left the stage');
  const stageBusy = counter('rxfeed.stage.busy.time', 's', 'Work the stage reported, summed over its parallel workers');
  const stageEmpty = counter('rxfeed.stage.empty.time', 's', 'Time the stage held nothing: it waited on upstream');
  const stageFull = counter('rxfeed.stage.full.time', 's', 'Time the stage was at capacity: upstream waited on it');
  const occupancy = gauge('rxfeed.stage.occupancy', '{item}', 'Items the stage holds');
  const capacity = gauge('rxfeed.stage.capacity', '{item}', 'Items the stage holds before upstream must wait');
  const parallelism = gauge('rxfeed.stage.parallelism', '{task}', 'Items the stage works on at once');
  const loaderWait = counter('rxfeed.loader.wait.time', 's', 'Time the consumer waited for an item (the loop had no batch)');
  const loaderBusy = counter('rxfeed.loader.busy.time', 's', "Time the consumer spent with an item in hand (the loop's body)");
  const loaderItems = counter('rxfeed.loader.items', '{item}', 'Items handed to the consumer');
  const instruments: ObservableInstrument[] = [
    stageItems,
    stageBusy,
    stageEmpty,
    stageFull,
    occupancy,
    capacity,
    parallelism,
    loaderWait,
    loaderBusy,
    loaderItems,
  ];
  const loaderAttributes: Attributes = { [LOADER]: name };
  // The value last reported per counter and stage: a counter never reports less (see above).
  const reported = new Map<ObservableInstrument, Map<string, number>>();

  const callback: BatchObservableCallback = (result) => {
    const { running, ended } = loader.readings();
    const readings = ended === undefined ? running : [ended, ...running];
    const observeCounter = (instrument: ObservableInstrument, value: number, attributes: Attributes) => {
      const series = String(attributes[STAGE] ?? '');
      const last = reported.get(instrument) ?? reported.set(instrument, new Map()).get(instrument)!;
      const monotonic = Math.max(value, last.get(series) ?? 0);
      last.set(series, monotonic);
      result.observe(instrument, monotonic, attributes);
    };
    const stages = new Map<string, StageCounters>();
    for (const reading of readings) {
      for (const stage of reading.stages) {
        const total = stages.get(stage.name) ?? stages.set(stage.name, zeroStageCounters()).get(stage.name)!;
        addStageCounters(total, stage);
      }
    }
    for (const [stage, total] of stages) {
      const attributes = { ...loaderAttributes, [STAGE]: stage };
      observeCounter(stageItems, total.itemsOut, attributes);
      observeCounter(stageBusy, total.busyMs / 1000, attributes);
      observeCounter(stageEmpty, total.emptyMs / 1000, attributes);
      observeCounter(stageFull, total.fullMs / 1000, attributes);
    }
    // Gauges describe now: the running iterations only.
    const gauges = new Map<string, StageGauges>();
    for (const reading of running) {
      for (const stage of reading.stages) {
        const sum = gauges.get(stage.name) ?? gauges.set(stage.name, { occupancy: 0, capacity: 0, parallelism: 0 }).get(stage.name)!;
        sum.occupancy += stage.occupancy;
        sum.capacity += stage.capacity;
        sum.parallelism += stage.parallelism;
      }
    }
    for (const [stage, sum] of gauges) {
      const attributes = { ...loaderAttributes, [STAGE]: stage };
      result.observe(occupancy, sum.occupancy, attributes);
      result.observe(capacity, sum.capacity, attributes);
      result.observe(parallelism, sum.parallelism, attributes);
    }
    const sum = (pick: (reading: FlowMetrics) => number) => readings.reduce((total, reading) => total + pick(reading), 0);
    observeCounter(loaderWait, sum((reading) => reading.waitingUpstreamMs) / 1000, loaderAttributes);
    observeCounter(loaderBusy, sum((reading) => reading.consumerBusyMs) / 1000, loaderAttributes);
    observeCounter(
      loaderItems,
      sum((reading) => reading.consumed),
      loaderAttributes,
    );
  };
  meter.addBatchObservableCallback(callback, instruments);

  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    meter.removeBatchObservableCallback(callback, instruments);
  };
  return { close, [Symbol.dispose]: close };
}

/** A stage's gauges summed over the running iterations. */
interface StageGauges {
  occupancy: number;
  capacity: number;
  parallelism: number;
}
