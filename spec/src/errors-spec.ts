import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectTypeOf } from 'expect-type';
import { ERROR_CODES, InvalidArgumentError, RxfeedError, TaskError, type RxfeedErrorCode } from '../../src/index.js';
import { installSecondCopy, root, type Library } from './secondCopy.js';

type Constructor = abstract new (...args: never[]) => unknown;

function classOf(library: Library, name: string): Constructor {
  const found = library[name];
  assert.equal(typeof found, 'function', `${name} is exported`);
  return found as Constructor;
}

/** Builds an instance of the class `name` of `library`, as that copy's own code would throw it. */
function make(library: Library, name: string, ...args: unknown[]): Error {
  const Class = classOf(library, name) as unknown as new (...parameters: unknown[]) => Error;
  return new Class(...args);
}

describe('error classes across two installed copies of rxfeed (issue 10)', () => {
  let copyDir: string;
  // `mine` is this build; `theirs` the same build installed a second time, as a dependency's copy would be.
  let mine: Library;
  let theirs: Library;

  before(async () => {
    ({ mine, theirs, copyDir } = await installSecondCopy());
    assert.notEqual(mine.RxfeedError, theirs.RxfeedError, 'two distinct copies were loaded');
  });

  after(() => {
    rmSync(copyDir, { recursive: true, force: true });
  });

  /** Asserts `error` (made by one copy) is, or is not, an instance of the class `name` of both copies. */
  function assertInstance(error: unknown, name: string, expected: boolean): void {
    assert.equal(error instanceof classOf(mine, name), expected, `instanceof ${name} of this copy`);
    assert.equal(error instanceof classOf(theirs, name), expected, `instanceof ${name} of the other copy`);
  }

  it('issue 10: an error of either copy is an instance of the base class of the other', () => {
    assertInstance(make(theirs, 'InvalidArgumentError', 'shard.rank', 'must be >= 0'), 'RxfeedError', true);
    assertInstance(make(mine, 'UnknownSizeError', 'padToBatch'), 'RxfeedError', true);
    assertInstance(new Error('plain'), 'RxfeedError', false);
    assertInstance({ code: 'RXFEED_ERR_INVALID_ARG', message: 'a look-alike' }, 'RxfeedError', false);
    assertInstance(null, 'RxfeedError', false);
    assertInstance('RXFEED_ERR_TASK', 'RxfeedError', false);
  });

  it('issue 10: a core class matches its own class of the other copy, and not a sibling', () => {
    const error = make(theirs, 'InvalidArgumentError', 'shard.rank', 'must be >= 0');
    assertInstance(error, 'InvalidArgumentError', true);
    assertInstance(error, 'UnknownSizeError', false);
    assertInstance(error, 'TaskError', false);
    assertInstance(make(theirs, 'TaskError', 3, new Error('boom')), 'TaskError', true);
    assertInstance(make(theirs, 'SkipItem'), 'SkipItem', true);
    assertInstance(make(theirs, 'SkipItem'), 'RxfeedError', true);
  });

  it('issue 10: one class of each source kind matches across copies', () => {
    const location = { file: 'train.tfrecord', offset: 16, record: 1 };
    assertInstance(make(theirs, 'CorruptRecordError', location, 'data-crc', 'masked CRC32C differs'), 'CorruptRecordError', true);
    assertInstance(make(theirs, 'TruncatedShardError', 'shard-0.tar', 512, false, 'a.jpg'), 'TruncatedShardError', true);
    assertInstance(make(theirs, 'ObjectStoreError', 'RXFEED_ERR_OBJECT_NOT_FOUND', 's3://b/k', 'missing', 404), 'ObjectStoreError', true);
    assertInstance(make(theirs, 'MongoQueryError', 'db.items', { a: 1 }, new Error('bad filter')), 'MongoQueryError', true);
    assertInstance(make(theirs, 'FileReadError', 'RXFEED_ERR_FILE_NOT_FOUND', '/nope', 'missing'), 'FileReadError', true);
    assertInstance(make(theirs, 'DecodeError', 2, 'not an image'), 'DecodeError', true);
    for (const name of ['CorruptRecordError', 'TruncatedShardError', 'ObjectStoreError', 'MongoQueryError', 'FileReadError']) {
      assertInstance(make(mine, 'InvalidArgumentError', 'x', 'y'), name, false);
    }
  });

  it('issue 10: a subclass instance is an instance of its parents, a parent instance not of the subclass', () => {
    const metadata = make(theirs, 'TfdsMetadataError', 'data/ds/1.0.0', 'features.json', 'steps', 'is not a dict');
    assertInstance(metadata, 'TfdsMetadataError', true);
    assertInstance(metadata, 'TfdsError', true);
    assertInstance(metadata, 'RxfeedError', true);
    assertInstance(make(theirs, 'TfdsError', 'data/ds/1.0.0', 'no such split'), 'TfdsMetadataError', false);
    const exit = make(theirs, 'WorkerExitError', 4, 'tasks.js#run', { name: 'Error', message: 'exited' }, 4);
    assertInstance(exit, 'WorkerExitError', true);
    assertInstance(exit, 'WorkerTaskError', true);
    assertInstance(make(theirs, 'WorkerTaskError', 4, 'tasks.js#run', { name: 'Error', message: 'bad' }), 'WorkerExitError', false);
  });

  it('issue 10: siblings under one parent do not match each other', () => {
    const corrupt = make(theirs, 'CorruptShardError', 'shard-0.tar', 1024, 'header checksum mismatch');
    assertInstance(corrupt, 'CorruptShardError', true);
    assertInstance(corrupt, 'TruncatedShardError', false);
    assertInstance(make(theirs, 'MongoAuthError', 'db.items', {}, new Error('denied')), 'MongoQueryError', false);
    assertInstance(make(theirs, 'ExecutorClosedError'), 'WorkerTaskError', false);
  });

  it('issue 10: every exported error class of every entry point is an RxfeedError', () => {
    const errorClasses = Object.entries(mine).filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error);
    assert.ok(errorClasses.length >= 30, `found ${errorClasses.length} error classes`);
    const base = classOf(mine, 'RxfeedError') as unknown as { prototype: object };
    for (const [name, value] of errorClasses) {
      if (name === 'RxfeedError') continue;
      assert.ok(
        Object.prototype.isPrototypeOf.call(base.prototype, (value as { prototype: object }).prototype),
        `${name} extends RxfeedError`,
      );
    }
  });
});

/** The source files of the library (TypeScript and the C binding), as paths below the root. */
function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|c)$/.test(name))
    .map((name) => join(dir, name));
}

describe('the registry of error codes (issue 10)', () => {
  it('issue 10: every RXFEED_ERR_* code the library names is in ERROR_CODES, and every registered code is named', () => {
    const named = new Set<string>();
    for (const file of ['src', 'operators', 'sources'].flatMap(sourceFiles)) {
      if (file === join('src', 'errorCodes.ts')) continue;
      // A code ends in a letter or digit: `RXFEED_ERR_MONGO_*` in a comment names a family, not a code.
      for (const [code] of readFileSync(join(root, file), 'utf8').matchAll(/RXFEED_ERR_[A-Z0-9_]+/g)) {
        if (!code.endsWith('_')) named.add(code);
      }
    }
    assert.deepEqual(
      [...named].filter((code) => !Object.hasOwn(ERROR_CODES, code)),
      [],
      'named but not registered',
    );
    assert.deepEqual(
      Object.keys(ERROR_CODES).filter((code) => !named.has(code)),
      [],
      'registered but never raised',
    );
    for (const [key, value] of Object.entries(ERROR_CODES)) assert.equal(value, key);
    assert.ok(Object.isFrozen(ERROR_CODES));
  });

  it('issue 10: a code outside the registry does not compile, and error.code is typed by the registry', () => {
    // @ts-expect-error a misspelt code is rejected by RxfeedError's constructor
    const typo = (): RxfeedError => new RxfeedError('RXFEED_ERR_INVALID_ARGUMENT', 'x');
    // @ts-expect-error a code without the registry is not a RxfeedErrorCode
    const unknown: RxfeedErrorCode = 'RXFEED_ERR_NOT_A_CODE';
    expectTypeOf<RxfeedError['code']>().toEqualTypeOf<RxfeedErrorCode>();
    expectTypeOf<TaskError['code']>().toEqualTypeOf<RxfeedErrorCode>();
    expectTypeOf(ERROR_CODES.RXFEED_ERR_TASK).toEqualTypeOf<'RXFEED_ERR_TASK'>();
    assert.equal(typeof typo, 'function');
    assert.equal(Object.hasOwn(ERROR_CODES, unknown), false);
    assert.equal(new InvalidArgumentError('shard.rank', 'must be >= 0').code, ERROR_CODES.RXFEED_ERR_INVALID_ARG);
  });

  it('issue 10: a TaskError describes a thrown value whose String() throws, instead of throwing a TypeError', () => {
    const cause = Object.create(null) as object;
    const error = new TaskError(4, cause);
    assert.equal(error.message, 'task failed on item 4: an object');
    assert.equal(error.cause, cause);
    assert.equal(error.code, 'RXFEED_ERR_TASK');
    assert.equal(new TaskError(1, 'boom').message, 'task failed on item 1: boom');
  });
});
