import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a target's case folders go: one folder per target and parent process, which its spec removes. */
export function scratchRoot(target: string, parentPid: number): string {
  return join(tmpdir(), `rxfeed-fuzz-${target}-${parentPid}`);
}

let cases = 0;

/**
 * Run `work` in a fresh folder for one case, removed afterwards. Named by this worker too: a
 * worker killed mid-case leaves its folder, and the next must not meet it.
 */
export async function inScratch<R>(target: string, work: (dir: string) => Promise<R>): Promise<R> {
  const dir = join(scratchRoot(target, process.ppid), `${process.pid}-${cases++}`);
  mkdirSync(dir, { recursive: true });
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
