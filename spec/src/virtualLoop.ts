/**
 * Drive a `for await` loop over a loader in virtual time: a discrete-event simulation on a
 * TestScheduler. Promises settle between events; each turn runs the scheduler's earliest actions,
 * so a step that waits `virtualDelay(scheduler, 5)` takes exactly 5 frames of the loader's clock.
 */
import type { TestScheduler } from 'rxjs/testing';

/** A promise resolved after `frames` frames of `scheduler`. */
export function virtualDelay(scheduler: TestScheduler, frames: number): Promise<void> {
  return new Promise((resolve) => scheduler.schedule(() => resolve(), frames));
}

/** Run `scheduler`'s actions, event by event, until `done` settles; answers what it settles to. */
export async function runVirtual<T>(scheduler: TestScheduler, done: Promise<T>): Promise<T> {
  let settled = false;
  const watched = done.finally(() => (settled = true));
  watched.catch(() => undefined);
  for (let turns = 0; !settled; turns++) {
    // Let every promise chain that can move without time move.
    for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    if (settled) break;
    const next = scheduler.actions[0];
    if (next === undefined) throw new Error('runVirtual: nothing scheduled and the loop has not ended (a deadlock)');
    if (turns > 1_000_000) throw new Error('runVirtual: too many turns');
    scheduler.maxFrames = next.delay;
    scheduler.flush();
  }
  return watched;
}
