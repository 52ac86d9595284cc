// ESLint flat config. It lives in .ci/ because the repository's top level is fixed; package.json's
// `lint` script points at it.
import tseslint from 'typescript-eslint';

const internalRxjs = { group: ['rxjs/internal/*'], message: 'rxjs/internal has no semver promise' };
const drivers = {
  group: ['mongodb', 'undici', 'tar-stream', 'piscina', '@tensorflow/*', 'sharp', '@node-rs/*'],
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
    files: ['**/*.ts'],
    rules: {
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
    ignores: ['src/index.ts', 'src/testing/**', 'src/adapters/**'],
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
