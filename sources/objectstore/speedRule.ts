/**
 * The per-attempt guards of the transport: curl's speed rule over the time spent waiting for the
 * network, and what an attempt is handed (its signal, its speed rule, why it was cut).
 *
 * @module
 */

/** What {@link Transport} hands each attempt: its signal, its speed rule, and why it was cut. */
export interface AttemptGuard {
  readonly signal: AbortSignal;
  readonly speed: SpeedRule;
  /** The attempt was cut by the speed rule or the deadline, not by the caller. */
  readonly cut: boolean;
  readonly reason: unknown;
  dispose(): void;
}

/**
 * curl's `--speed-limit`/`--speed-time` over the time spent waiting for the network: fewer
 * than `minBytes` in a window of `windowMs` of waiting calls `onSlow`. Time the consumer holds
 * a chunk is not counted, so a slow training step never cuts a healthy download.
 */
export class SpeedRule {
  private bytes = 0;
  private waited = 0;
  private since = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly minBytes: number,
    private readonly windowMs: number,
    private readonly onSlow: (bytes: number) => void,
  ) {}

  /** Waiting for the network from now on. */
  wait(): void {
    if (this.minBytes <= 0 || this.timer !== undefined) return;
    this.since = performance.now();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.waited = this.windowMs;
      if (this.closeWindow()) this.wait();
    }, this.windowMs - this.waited);
  }

  /** `count` bytes arrived; still waiting for more until {@link SpeedRule.pause}. */
  got(count: number): void {
    this.bytes += count;
    if (this.timer === undefined) return;
    this.pause();
    if (this.waited >= this.windowMs && !this.closeWindow()) return;
    this.wait();
  }

  /** Not waiting (the consumer holds a chunk, or the attempt is over). */
  pause(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waited += performance.now() - this.since;
  }

  /** Judge the window just ended and start a fresh one; false when it was too slow. */
  private closeWindow(): boolean {
    const slow = this.bytes < this.minBytes;
    const bytes = this.bytes;
    this.bytes = 0;
    this.waited = 0;
    if (slow) this.onSlow(bytes);
    return !slow;
  }
}
