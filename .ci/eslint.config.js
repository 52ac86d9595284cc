// ESLint flat config. It lives in .ci/ because the repository's top level is fixed; package.json's
// `lint` script points at it.
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

const internalRxjs = { group: ['rxjs/internal/*'], message: 'rxjs/internal has no semver promise' };
const drivers = {
  group: ['mongodb', 'undici', 'tar-stream', 'piscina', '@tensorflow/*', 'sharp', '@node-rs/*', '@opentelemetry/*'],
  message: 'drivers are reached only through their own subpath export (sources/<kind>, src/adapters)',
};
const operators = {
  group: ['../operators/*', '../../operators/*'],
  message: 'src/ is the core that operators build on: what both need (the device port, the tensor vocabulary) lives in src/',
};

// Source kinds are independent plugins over sources/core: none imports another (issue 10), so a
// new kind is a few files over ByteSource and the shared pieces in sources/core.
const kinds = ['tfrecord', 'webdataset', 'mongodb', 'objectstore'];
const kindsBut = (kind) => ({
  group: kinds.filter((other) => other !== kind).flatMap((other) => [`../${other}`, `../${other}/**`, `**/sources/${other}/**`]),
  message: 'no source kind (nor sources/core) imports another kind: what two kinds need belongs in sources/core',
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'docs/**'] },
  ...tseslint.configs.recommended,
  {
    // Type-aware rules (issue 10): a promise nobody awaits loses its rejection, and a promise passed
    // where a void callback is expected (an event listener, forEach, a subscriber) is never awaited.
    // Every .ts file is in tsconfig.json's program (a new one outside its include fails lint with
    // "not found by the project service": add it there); the .js scripts are linted without types.
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: repositoryRoot },
    },
    rules: {
      // node:test tracks the promise that `describe` and `it` return (a failure fails the run), so
      // registering a test is safe to leave unawaited; `t.test` subtests and everything else are not.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      'no-restricted-imports': ['error', { patterns: [internalRxjs] }],
    },
  },
  {
    // The core entry must load no driver: only rxjs and node built-ins outside the adapters.
    files: ['src/**/*.ts', 'operators/**/*.ts', 'sources/core/**/*.ts'],
    ignores: ['src/adapters/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [internalRxjs, drivers],
        },
      ],
    },
  },
  {
    // Only the barrels may reach up into operators/ (issue 10).
    files: ['src/**/*.ts'],
    ignores: ['src/index.ts', 'src/testing/**', 'src/adapters/**', 'src/cli/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [internalRxjs, drivers, operators] }] },
  },
  {
    files: ['src/adapters/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [internalRxjs, operators] }] },
  },
  {
    files: ['operators/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            internalRxjs,
            { group: ['../sources/*', '../../sources/*'], message: 'operators import src/, never sources/' },
            drivers,
          ],
        },
      ],
    },
  },
  ...kinds.map((kind) => ({
    files: [`sources/${kind}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: [internalRxjs, kindsBut(kind)] }] },
  })),
  {
    // The core imports no kind; httpUrls.ts alone loads the HTTP store lazily (see its header).
    files: ['sources/core/**/*.ts'],
    ignores: ['sources/core/httpUrls.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [internalRxjs, drivers, kindsBut('core')] }] },
  },
);
