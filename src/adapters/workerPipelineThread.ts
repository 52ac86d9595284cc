/**
 * The module every thread of a worker pipeline loads: it runs parts of pipelines, each under a
 * Flow of its own that a credit stage gates, and posts their items to the main thread.
 *
 * A part may have at most `credits` items posted and not yet handed on by the main thread; the
 * credit stage counts them, and those waiting to be posted, against that capacity, so the part's
 * sources park as a main-thread source does when a stage downstream is full. Items ready at the
 * same time travel in one message (posting costs tens of microseconds on each side), their
 * buffers moved, not cloned.
 *
 * A part ends (completes, fails, or is stopped by the main thread) only once its sources have
 * released their resources (`Flow.released`): the main thread's `break` waits for that message.
 *
 * Readings: every items message carries the part's busy time so far (one number: the time since
 * it started, less the time it was parked on credits, up to its end), and, at most every
 * {@link READING_PERIOD_MS}, a snapshot of its Flow's stages (a few small objects, cloned with
 * the message: about a microsecond each per period). The end carries the final ones: the part's
 * Flow keeps the readings of stages that ended, so these are its totals.
 *
 * @module
 * @internal
 */
import { parentPort } from 'node:worker_threads';
import { isObservable, type Subscription } from 'rxjs';
import { bindContext, PipelineContext } from '../context.js';
import type { Placement } from '../distributed.js';
import { disposeAll } from '../dispose.js';
import { InvalidArgumentError, RxfeedError } from '../errors.js';
import { describe } from '../excerpt.js';
import { Flow, type StageHandle, type StageMetrics } from '../flow.js';
import { isPromiseLike } from '../isPromiseLike.js';
import { CountLedger } from '../ledger.js';
import { StateTracker, type RestoreStates, type StatePart } from '../loaderState.js';
import { OriginList, takeOrigins, type Origins } from '../origins.js';
import { loadExport, toRemote, type RemoteError } from './crossThread.js';
import { prepareTransfer } from './transfer.js';

/** What a part's pipeline function receives: the `part` of `WorkerPipelineFunction`. @internal */
export interface PartDescription extends Placement {
  readonly epoch: number;
  readonly seed: number;
  readonly options: unknown;
}

/** What the main thread posts to a pipeline thread. @internal */
export type ToThread =
  | {
      readonly kind: 'start';
      readonly run: number;
      readonly module: string;
      readonly exportName: string;
      readonly part: PartDescription;
      readonly credits: number;
      readonly checkSplit: boolean;
      /** Time the part's stages (the main thread's `Flow.timing`). */
      readonly timing: boolean;
      /** The states the loader resumes from, each with only this part's parts, keyed as in the part. */
      readonly restore: RestoreStates;
    }
  /**
   * The main thread handed `count` of the part's items on: that many more may be posted; with
   * `credits`, the part's credits are now that many (`credits: 'auto'`).
   */
  | { readonly kind: 'credit'; readonly run: number; readonly count: number; readonly credits?: number }
  /** The main thread no longer wants the part: unsubscribe it and answer `stopped` once released. */
  | { readonly kind: 'stop'; readonly run: number };

/**
 * A part's readings so far: its busy time (producing, not parked on credits, up to its end) and,
 * when present, its own stages, source to sink (their totals, in the last message of a part).
 * @internal
 */
export interface PartReading {
  readonly busyMs: number;
  readonly stages?: StageMetrics[];
}

/** The name of the credit stage in a part's Flow; the main thread's reading of it is the merge queue's. @internal */
export const CREDITS_STAGE = 'workerPipeline.credits';

/** The most often a part sends a snapshot of its stages, in milliseconds (with an items message). @internal */
export const READING_PERIOD_MS = 100;

/** What a pipeline thread posts to the main thread. @internal */
export type FromThread =
  /**
   * Items, each with its origins as pairs `ledger id, item number` (null: none), and the pairs of
   * the items the part's own stages dropped since the last message.
   */
  | {
      readonly kind: 'items';
      readonly run: number;
      readonly values: unknown[];
      readonly origins: (number[] | null)[];
      readonly dropped: number[];
      readonly reading: PartReading;
    }
  /** A ledger the part registered (see `Loader.state`), as saved now; later pairs name it by `id`. */
  | { readonly kind: 'ledger'; readonly run: number; readonly id: number; readonly key: string; readonly saved: Record<string, unknown> }
  /** A part that is not a ledger (a stateful stage): its state stays in the thread. */
  | { readonly kind: 'stage'; readonly run: number; readonly key: string }
  /** The part completed (no `error`) or failed, and its resources are released. */
  | { readonly kind: 'end'; readonly run: number; readonly error?: RemoteError; readonly dropped: number[]; readonly reading: PartReading }
  /** The part was stopped and its resources are released. */
  | { readonly kind: 'stopped'; readonly run: number; readonly reading: PartReading };

type PipelineExport = (part: PartDescription) => unknown;

const port = parentPort;
const runs = new Map<number, PartRun>();

/** One part of one subscription of a worker pipeline, running in this thread. */
class PartRun {
  readonly #run: number;
  readonly #start: Extract<ToThread, { kind: 'start' }>;
  readonly #flow: Flow;
  #credits: number;
  /** Clock time the part started, and the busy time it ended with (undefined: still running). */
  readonly #startedAt: number;
  #finalBusyMs: number | undefined;
  /** Time parked with every credit used, and since when it is parked now (undefined: it is not). */
  #creditWaitMs = 0;
  #fullSince: number | undefined;
  #stagesSentAt = -Infinity;
  readonly #outbox: unknown[] = [];
  readonly #outboxOrigins: (number[] | null)[] = [];
  /** Pairs `ledger id, item number` of items dropped in the part, not yet posted. */
  readonly #dropped: number[] = [];
  readonly #ledgerIds = new Map<object, number>();
  readonly #stage: StageHandle;
  #context: PipelineContext | undefined;
  #subscription: Subscription | undefined;
  #posted = 0; // items posted and not yet credited back
  #flushQueued = false;
  #ending: { error?: RemoteError; released: boolean } | undefined;
  #stopping = false;
  #over = false; // `end` or `stopped` was posted

  constructor(start: Extract<ToThread, { kind: 'start' }>) {
    this.#run = start.run;
    this.#start = start;
    this.#credits = start.credits;
    this.#flow = new Flow({ timing: start.timing });
    this.#startedAt = this.#flow.mark();
    const credits = (): number => this.#credits;
    this.#stage = this.#flow.register({
      name: CREDITS_STAGE,
      // `credits: 'auto'` changes it while the part runs.
      get capacity() {
        return credits();
      },
      occupancy: () => this.#posted + this.#outbox.length,
    });
  }

  /** Start or stop the credit-wait clock when the part fills or frees its credits (a clock read only then). */
  #checkFull(): void {
    if (!this.#flow.timing || this.#finalBusyMs !== undefined) return;
    const full = this.#posted + this.#outbox.length >= this.#credits;
    if (full === (this.#fullSince !== undefined)) return;
    const now = this.#flow.now();
    if (full) {
      this.#fullSince = now;
    } else {
      this.#creditWaitMs += now - this.#fullSince!;
      this.#fullSince = undefined;
    }
  }

  #busyMs(): number {
    if (this.#finalBusyMs !== undefined) return this.#finalBusyMs;
    if (!this.#flow.timing) return 0;
    const now = this.#flow.now();
    return now - this.#startedAt - this.#creditWaitMs - (this.#fullSince === undefined ? 0 : now - this.#fullSince);
  }

  /** The reading an items message carries: the stages only once per period; `final`: always. */
  #reading(final: boolean): PartReading {
    const busyMs = this.#busyMs();
    const timing = this.#flow.timing;
    if (!final && (!timing || this.#flow.now() - this.#stagesSentAt < READING_PERIOD_MS)) return { busyMs };
    if (timing) this.#stagesSentAt = this.#flow.now();
    return { busyMs, stages: this.#flow.snapshot().stages.filter((stage) => stage.name !== CREDITS_STAGE) };
  }

  async begin(): Promise<void> {
    const { module, exportName, part } = this.#start;
    let pipeline: PipelineExport;
    try {
      pipeline = await loadExport<PipelineExport>(module, exportName, 'workerPipeline.exportName');
    } catch (error) {
      this.#end(error);
      return;
    }
    if (this.#stopping) return;
    const tracker = new StateTracker(this.#start.restore, (key, registered) => this.#registered(key, registered));
    const context = new PipelineContext({ flow: this.#flow, epoch: part.epoch, part, tracker });
    this.#context = context;
    try {
      const made = bindContext(context, () => pipeline(part));
      // An async export (it awaits a dataset's index, say) is subscribed once its Observable is
      // made, still under the part's context.
      const source: unknown = isPromiseLike(made) ? await made : made;
      if (this.#stopping) return;
      if (!isObservable(source)) {
        throw new InvalidArgumentError(
          'workerPipeline',
          `${module}#${exportName} must return an Observable or a promise of one, got ${describe(source)}`,
        );
      }
      const subscription = bindContext(context, () =>
        source.subscribe({
          next: (value) => this.#next(value),
          error: (error: unknown) => this.#end(error),
          complete: () => this.#end(undefined),
        }),
      );
      // It may have ended while subscribing (a synchronous source, the split check).
      if (this.#ending !== undefined || this.#stopping) subscription.unsubscribe();
      else this.#subscription = subscription;
    } catch (error) {
      this.#end(error);
    }
  }

  /** A part registered in this thread: a ledger gets a copy in the main thread, where items are consumed. */
  #registered(key: string, registered: StatePart): void {
    if (!(registered instanceof CountLedger)) {
      port!.postMessage({ kind: 'stage', run: this.#run, key } satisfies FromThread);
      return;
    }
    const id = this.#ledgerIds.size;
    this.#ledgerIds.set(registered, id);
    registered.forward = (seq) => {
      this.#dropped.push(id, seq);
      this.#queueFlush();
    };
    port!.postMessage({ kind: 'ledger', run: this.#run, id, key, saved: registered.save() } satisfies FromThread);
  }

  /** Origins as pairs `ledger id, item number`, or null when unknown. */
  #encode(origins: Origins): number[] | null {
    if (origins === undefined) return null;
    if (!(origins instanceof OriginList)) {
      // One origin (a part that emits samples): one pair, no list made around it.
      const id = this.#ledgerIds.get(origins.ledger);
      return id === undefined ? null : [id, origins.seq];
    }
    const pairs: number[] = [];
    for (let i = 0; i < origins.seqs.length; i++) {
      const id = this.#ledgerIds.get(origins.ledgers[i]!);
      if (id === undefined) return null;
      pairs.push(id, origins.seqs[i]!);
    }
    return pairs;
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // Items a burst emits (a batch's rows, a source's chunk) leave together in one message.
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #next(value: unknown): void {
    const origins = takeOrigins();
    if (this.#ending !== undefined || this.#stopping) {
      disposeAll([value]);
      return;
    }
    const { part, checkSplit } = this.#start;
    if (checkSplit && part.numWorkers > 1 && this.#context?.split === false) {
      disposeAll([value]);
      this.#end(
        new RxfeedError(
          'RXFEED_ERR_WORKER_UNSPLIT',
          `${this.#start.module}#${this.#start.exportName}: the part of worker ${part.workerIndex} emitted an item, but nothing in its ` +
            `pipeline split the input by worker (shard() or fromRandomAccess), so each of the ${part.numWorkers} threads would read ` +
            'the same items; add shard() after the source, or pass checkSplit: false when each part reads its own input',
        ),
      );
      return;
    }
    this.#outbox.push(value);
    this.#outboxOrigins.push(this.#encode(origins));
    this.#stage.entered();
    this.#checkFull();
    this.#queueFlush();
  }

  /** Post what the credits allow; then, once everything is posted and released, the end. */
  #flush(): void {
    if (this.#over) return;
    const room = this.#credits - this.#posted;
    if (room > 0 && this.#outbox.length > 0) {
      const values = this.#outbox.splice(0, room);
      const origins = this.#outboxOrigins.splice(0, values.length);
      const dropped = this.#dropped.splice(0);
      this.#posted += values.length;
      try {
        const { value, transferList } = prepareTransfer(values);
        port!.postMessage(
          { kind: 'items', run: this.#run, values: value, origins, dropped, reading: this.#reading(false) } satisfies FromThread,
          transferList,
        );
      } catch (error) {
        disposeAll(values);
        this.#end(
          new InvalidArgumentError(
            'workerPipeline',
            `an item of worker ${this.#start.part.workerIndex} cannot cross threads (${(error as Error).message}); ` +
              'items must be structured-cloneable: plain objects, arrays, typed arrays, strings, numbers',
          ),
        );
      }
    }
    const ending = this.#ending;
    if (ending !== undefined && ending.released && this.#outbox.length === 0) {
      this.#finish({
        kind: 'end',
        run: this.#run,
        dropped: this.#dropped.splice(0),
        reading: this.#reading(true),
        ...(ending.error === undefined ? {} : { error: ending.error }),
      });
    }
  }

  /** The part completed (`error` undefined) or failed: release, post what is left, then the end. */
  #end(error: unknown): void {
    if (this.#ending !== undefined || this.#over) return;
    const ending: { error?: RemoteError; released: boolean } = { released: false };
    // Items emitted before an error are still posted before it, as a main-thread stream delivers them.
    if (error !== undefined) ending.error = toRemote(error);
    this.#ending = ending;
    // Producing ends here: waiting for credits to post the last items is not the part's work.
    this.#finalBusyMs = this.#busyMs();
    this.#subscription?.unsubscribe();
    void this.#flow.released().then(() => {
      ending.released = true;
      this.#flush();
    });
  }

  credit(count: number, credits: number | undefined): void {
    if (credits !== undefined) this.#credits = credits;
    this.#posted -= count;
    if (count > 0) this.#stage.left(count);
    this.#checkFull();
    this.#flush();
  }

  stop(): void {
    if (this.#stopping || this.#over) return;
    this.#stopping = true;
    this.#finalBusyMs = this.#busyMs();
    this.#subscription?.unsubscribe();
    this.#outboxOrigins.length = 0;
    disposeAll(this.#outbox.splice(0));
    void this.#flow.released().then(() => this.#finish({ kind: 'stopped', run: this.#run, reading: this.#reading(true) }));
  }

  #finish(message: FromThread): void {
    if (this.#over) return;
    this.#over = true;
    this.#stage.unregister();
    runs.delete(this.#run);
    port!.postMessage(message);
  }
}

port?.on('message', (message: ToThread) => {
  switch (message.kind) {
    case 'start': {
      const run = new PartRun(message);
      runs.set(message.run, run);
      void run.begin();
      break;
    }
    case 'credit':
      runs.get(message.run)?.credit(message.count, message.credits);
      break;
    case 'stop':
      runs.get(message.run)?.stop();
      break;
  }
});
