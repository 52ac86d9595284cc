/**
 * Locations the TFRecord specs share: the repository root, the shared test data beside it, and
 * a fresh temporary directory per spec file under `.tmp/`.
 */
import { mkdtempSync, rmSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (specs run compiled, from `dist/spec/...`). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
/** `../shared/data` relative to the repository root. */
export const sharedData = join(repoRoot, '..', 'shared', 'data');
export const pytorchData = join(sharedData, 'tfrecord', 'pytorch-data');
export const bridgeDir = join(sharedData, 'tfds', 'octo-bridge_dataset', '1.0.0');

/** A new empty directory under `.tmp/spec-tfrecord/`, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const base = join(repoRoot, '.tmp', 'spec-tfrecord');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, `${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Open file descriptors of this process (Linux). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
