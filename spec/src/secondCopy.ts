/**
 * A second installed copy of the built library, as a dependency bringing its own rxfeed would
 * make: for specs of what must hold across copies (error brands, the context slot).
 */
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Specs run from dist/spec/src/: the built library is dist/, the package manifest the root's.
const dist = fileURLToPath(new URL('../../', import.meta.url));
/** The repository root. */
export const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every export of the package's entry points, by name. */
export type Library = Record<string, unknown>;

/** The built files of each subpath export (`.`, `./testing`, `./tfrecord` ...), relative to the package root. */
function entryPoints(): string[] {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { default: string }>;
  };
  return Object.values(manifest.exports)
    .filter((entry): entry is { default: string } => typeof entry === 'object')
    .map((entry) => entry.default);
}

/** Imports every entry point of the package installed at `packageRoot` into one namespace. */
async function load(packageRoot: string): Promise<Library> {
  const library: Library = {};
  for (const entry of entryPoints()) {
    Object.assign(library, await import(pathToFileURL(join(packageRoot, entry)).href));
  }
  return library;
}

/**
 * Copies the built library to a temporary directory and loads both: `mine` is this build,
 * `theirs` the copy. Remove `copyDir` when done.
 */
export async function installSecondCopy(): Promise<{ mine: Library; theirs: Library; copyDir: string }> {
  const copyDir = mkdtempSync(join(tmpdir(), 'rxfeed-copy-'));
  const packageRoot = join(copyDir, 'dist');
  for (const part of ['src', 'operators', 'sources']) cpSync(join(dist, part), join(packageRoot, part), { recursive: true });
  writeFileSync(join(copyDir, 'package.json'), JSON.stringify({ type: 'module' }));
  // The copy shares rxfeed's dependencies (rxjs, piscina ...), as two installs of it in one tree do.
  symlinkSync(join(root, 'node_modules'), join(copyDir, 'node_modules'), 'dir');
  return { mine: await load(root), theirs: await load(copyDir), copyDir };
}
