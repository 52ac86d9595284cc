import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { checkExamples, extractExamples, repositoryExamples } from './examples.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
// Inside the package (so `rxfeed` resolves to its build), under dist/ (ignored, never packed).
const workDir = join(root, 'dist', 'docs-examples');

describe('docs examples (issue 14)', () => {
  it('issue 14: extracts every ```ts block of TSDoc comments with its file line, and skips blocks marked nocheck', () => {
    const text = [
      '/**', //                                         1
      ' * Summary.', //                                 2
      ' *', //                                          3
      ' * @example', //                                 4
      ' * ```ts', //                                    5
      " * import { batch } from 'rxfeed';", //          6
      ' *   const b = batch(2);', //                    7
      ' * ```', //                                      8
      ' * ```ts nocheck', //                            9
      ' * fragment(', //                                10
      ' * ```', //                                      11
      ' */', //                                         12
      'export const x = 1; // ```ts outside a comment', // 13
      '/** @example', //                                14
      ' * ```ts', //                                    15
      ' * x;', //                                       16
      ' * ```', //                                      17
      ' */', //                                         18
    ].join('\n');
    assert.deepEqual(extractExamples('src/a.ts', text), [
      { file: 'src/a.ts', line: 6, index: 1, code: "import { batch } from 'rxfeed';\n  const b = batch(2);" },
      { file: 'src/a.ts', line: 16, index: 2, code: 'x;' },
    ]);
    assert.deepEqual(extractExamples('README.md', '# t\n```ts\nlet a = 1;\n```\n```sh\nnpm ci\n```\n```ts\nlet b = 2;\n```\n'), [
      { file: 'README.md', line: 3, index: 1, code: 'let a = 1;' },
      { file: 'README.md', line: 9, index: 2, code: 'let b = 2;' },
    ]);
  });

  it('issue 14: reports each failing example as <file>:<line> example <n>, against the exports of the built package', () => {
    const failures = checkExamples(
      [
        { file: 'src/a.ts', line: 10, index: 1, code: "import { batch } from 'rxfeed';\nconst b: number = batch(2);" },
        { file: 'src/a.ts', line: 20, index: 2, code: "import { toDevice } from 'rxfeed/tfjs';\nvoid toDevice;" },
        { file: 'README.md', line: 5, index: 1, code: 'await step(1);' },
        { file: 'README.md', line: 9, index: 2, code: "import { batch } from 'rxfeed';\nconst b = batch(2);\nvoid b;" },
      ],
      workDir,
    );
    assert.deepEqual(
      failures.map((failure) => failure.replace(/: TS\d+: .*$/, '')),
      ['src/a.ts:11 example 1', 'src/a.ts:20 example 2', 'README.md:5 example 1'],
      failures.join('\n'),
    );
  });

  it('issue 14: every ```ts example in TSDoc (src/, operators/, sources/) and README.md compiles under strict against the package exports', () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'index.d.ts')), 'examples compile against the built declarations: npm run build first');
    const examples = repositoryExamples(root);
    assert.ok(examples.length > 100, `found ${examples.length} examples`);
    const failures = checkExamples(examples, workDir);
    const advice =
      "Each block is a user's module: import what it uses from 'rxfeed' and its subpaths, declare what it leaves to " +
      'the reader (`declare function step(batch: unknown): Promise<void>;`), or open a fragment that is not code with ```ts nocheck.';
    assert.deepEqual(failures, [], `${failures.length} error(s) in the docs' examples. ${advice}\n${failures.join('\n')}`);
  });
});
