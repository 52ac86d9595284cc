/**
 * The write loop of a sink operator (`toTFRecord`, `toWebDataset`).
 *
 * @module
 */

/**
 * One `drain` at a time, started again as long as work is wanted: items that arrive while a write
 * is in flight are written by the next turn of the same loop, in order, and never by a second
 * writer racing the first.
 * @internal
 */
export class WriteLoop {
  readonly #drain: () => Promise<void>;
  readonly #wanted: () => boolean;
  readonly #fail: (error: unknown) => void;
  #running: Promise<void> | undefined;

  /**
   * @param drain - Writes what is queued; may finish the sink.
   * @param wanted - Whether a turn has work: items queued, or the end to write.
   * @param fail - Called with the error of a turn that rejected; the loop stops.
   */
  constructor(drain: () => Promise<void>, wanted: () => boolean, fail: (error: unknown) => void) {
    this.#drain = drain;
    this.#wanted = wanted;
    this.#fail = fail;
  }

  /** Start a turn unless one is running or none is wanted. */
  kick(): void {
    if (this.#running !== undefined || !this.#wanted()) return;
    this.#running = this.#drain().then(
      () => {
        this.#running = undefined;
        this.kick();
      },
      (error: unknown) => {
        this.#running = undefined;
        this.#fail(error);
      },
    );
  }

  /** Settles, never rejecting, when the turn running now (if any) has ended. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }
}
