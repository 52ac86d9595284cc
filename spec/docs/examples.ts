/**
 * Extracts the TypeScript examples of the docs (every ```ts block in a TSDoc comment under src/,
 * operators/ and sources/, and in README.md) and typechecks them as a user's modules would be.
 *
 * A block opts out with `nocheck` after its language (```ts nocheck): for fragments that are not a
 * module (a signature, an excerpt of an object); use it rarely, as nothing checks such a block.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** One ```ts block of the docs. */
export interface Example {
  /** The file it is written in, relative to the repository root. */
  readonly file: string;
  /** The 1-based line of that file holding the block's first line of code. */
  readonly line: number;
  /** 1-based: the block's position among the checked examples of its file. */
  readonly index: number;
  readonly code: string;
}

const FENCE_OPEN = /^```(ts|typescript)\b(.*)$/;

/**
 * The ```ts blocks of `lines`, where `lines[k]` is line `firstLine + k` of `file`. Blocks marked
 * `nocheck` are skipped; `counter` numbers the blocks of one file across calls.
 */
function blocksOf(file: string, lines: readonly string[], firstLine: number, counter: { index: number }): Example[] {
  const found: Example[] = [];
  for (let k = 0; k < lines.length; k++) {
    const open = FENCE_OPEN.exec(lines[k]!.trim());
    if (open === null) continue;
    let end = k + 1;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    if (!/\bnocheck\b/.test(open[2]!)) {
      found.push({ file, line: firstLine + k + 1, index: ++counter.index, code: lines.slice(k + 1, end).join('\n') });
    }
    k = end;
  }
  return found;
}

/** The examples of one file's text: every ```ts block of its TSDoc comments, or of the whole text for Markdown. */
export function extractExamples(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const counter = { index: 0 };
  if (file.endsWith('.md')) return blocksOf(file, lines, 1, counter);
  const found: Example[] = [];
  for (let k = 0; k < lines.length; k++) {
    if (!lines[k]!.trim().startsWith('/**')) continue;
    let end = k;
    while (end < lines.length && !lines[end]!.includes('*/')) end++;
    // The comment's lines without their leading ` * `, keeping the code's own indentation.
    const body = lines.slice(k, end + 1).map((line) => line.replace(/^\s*\/?\*\*?\/? ?/, '').replace(/\*\/\s*$/, ''));
    found.push(...blocksOf(file, body, k + 1, counter));
    k = end;
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}

/** Every example of the repository at `root`: TSDoc under src/, operators/, sources/, then README.md. */
export function repositoryExamples(root: string): Example[] {
  const files = [...['src', 'operators', 'sources'].flatMap((dir) => sourceFiles(join(root, dir))), join(root, 'README.md')];
  return files.flatMap((path) => extractExamples(relative(root, path), readFileSync(path, 'utf8')));
}

/**
 * A user's strict ESM project on Node: `rxfeed` and its subpaths resolve through this package's
 * `exports` (TypeScript's self-name imports), so an example sees exactly the built declarations a
 * user installs, and an import of a name a subpath does not export fails.
 */
const OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.esnext.disposable.d.ts'],
  types: ['node'],
  skipLibCheck: true,
};

/**
 * Typechecks `examples` in one program, each as its own module, written under `workDir` (inside
 * the package, so `rxfeed` resolves to it; the package must be built). Returns one line per
 * diagnostic, `<file>:<line> example <n>: <message>`, empty when every example compiles.
 */
export function checkExamples(examples: readonly Example[], workDir: string): string[] {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const byPath = new Map<string, Example>();
  examples.forEach((example, k) => {
    const path = join(workDir, `example-${k}.ts`);
    // `export {}` makes a block without imports a module too: its names stay its own, and top-level await is allowed.
    writeFileSync(path, `${example.code}\nexport {};\n`);
    byPath.set(path, example);
  });
  try {
    const program = ts.createProgram([...byPath.keys()], OPTIONS);
    const failures: string[] = [];
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n').replaceAll('\n', ' ');
      const example = diagnostic.file === undefined ? undefined : byPath.get(diagnostic.file.fileName);
      if (example === undefined) {
        failures.push(`${diagnostic.file?.fileName ?? '(options)'}: TS${diagnostic.code}: ${message}`);
        continue;
      }
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      failures.push(`${example.file}:${example.line + line} example ${example.index}: TS${diagnostic.code}: ${message}`);
    }
    return failures;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
