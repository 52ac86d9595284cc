import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { assertClientThread } from '../../sources/mongodb/index.js';
import {
  expandBraces,
  fromObjects,
  objectMap,
  presignQuery,
  sha256Hex,
  signHeaders,
  type ObjectStore,
} from '../../sources/objectstore/index.js';
import { maskedCrc32c, resolveTfdsSplit, sharpImageDecoder, tfrecordFrame, type TfdsInfo } from '../../sources/tfrecord/index.js';
import { listShards } from '../../sources/webdataset/index.js';

// Issue 10: "no plain Error/TypeError/RangeError from a public function". Wrong-typed arguments of
// the public functions of rxfeed/objectstore, rxfeed/tfrecord and rxfeed/webdataset (a
// JavaScript caller, or data read from a config file) fail with InvalidArgumentError naming the
// argument, before anything is read or sent.

const store = { name: 'stub', open: () => undefined, list: () => undefined, listPage: () => undefined } as unknown as ObjectStore;
const request = { method: 'GET', path: '/b/k', headers: [['host', 'example.com']] as const };
const options = {
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  region: 'us-east-1',
  service: 's3',
  date: new Date(Date.UTC(2015, 7, 30, 12, 36)),
};

const wrong = <T>(value: unknown): T => value as T;

function isArgumentError(argument: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected an InvalidArgumentError for ${argument}, got ${String(error)}`);
    assert.equal(error.argument, argument);
    return true;
  };
}

describe('issue 10: wrong-typed arguments of public source functions', () => {
  it('issue 10: objectstore functions fail with InvalidArgumentError naming the argument, never a TypeError', () => {
    const cases: [string, () => unknown][] = [
      ['expandBraces.pattern', () => expandBraces(wrong(null))],
      ['expandBraces.pattern', () => expandBraces(wrong(7))],
      ['fromObjects.store', () => fromObjects(wrong(null))],
      ['fromObjects.store', () => fromObjects(wrong({ name: 'x' }))],
      ['fromObjects.options', () => fromObjects(store, wrong(null))],
      ['objectMap.store', () => objectMap(wrong(undefined), ['a'])],
      ['objectMap.keys', () => objectMap(store, wrong(5))],
      ['objectMap.keys', () => objectMap(store, wrong(['a', 5]))],
      ['sha256Hex.body', () => sha256Hex(wrong(5))],
      ['signHeaders.request', () => signHeaders(wrong(null), options)],
      ['signHeaders.request', () => signHeaders(wrong({ ...request, headers: undefined }), options)],
      ['signHeaders.options', () => signHeaders(request, wrong(null))],
      ['signHeaders.options.date', () => signHeaders(request, wrong({ ...options, date: undefined }))],
      ['signHeaders.options.date', () => signHeaders(request, wrong({ ...options, date: new Date(Number.NaN) }))],
      ['signHeaders.options.credentials', () => signHeaders(request, wrong({ ...options, credentials: null }))],
      ['presignQuery.options', () => presignQuery(request, wrong(undefined), 60)],
      ['presignQuery.request', () => presignQuery(wrong('GET /'), options, 60)],
    ];
    for (const [argument, call] of cases) assert.throws(call, isArgumentError(argument), argument);
  });

  it('issue 10: tfrecord, webdataset and mongodb functions fail with InvalidArgumentError naming the argument, never a TypeError', async () => {
    const cases: [string, () => unknown][] = [
      ['maskedCrc32c.bytes', () => maskedCrc32c(wrong(null))],
      ['maskedCrc32c.bytes', () => maskedCrc32c(wrong('abc'))],
      ['tfrecordFrame.data', () => tfrecordFrame(wrong(null))],
      ['tfrecordFrame.data', () => tfrecordFrame(wrong('abc'))],
      ['resolveTfdsSplit.info', () => resolveTfdsSplit(wrong<TfdsInfo>(null), 'train')],
      ['resolveTfdsSplit.info', () => resolveTfdsSplit(wrong<TfdsInfo>({}), 'train')],
      ['assertClientThread.ownerThreadId', () => assertClientThread(wrong(Symbol('thread')), 'the client')],
      ['assertClientThread.currentThreadId', () => assertClientThread(0, 'the client', wrong('main'))],
    ];
    for (const [argument, call] of cases) assert.throws(call, isArgumentError(argument), argument);
    const asyncCases: [string, () => Promise<unknown>][] = [
      ['listShards.store', () => listShards(wrong(null), 'train/')],
      ['listShards.store', () => listShards(wrong({}), 'train/')],
      ['listShards.prefix', () => listShards(store, wrong(3))],
      ['sharpImageDecoder.encoded', () => sharpImageDecoder(wrong('jpeg'), { shape: [1, 1, 3], format: 'jpeg' })],
      ['sharpImageDecoder.expected', () => sharpImageDecoder(new Uint8Array(4), wrong(undefined))],
    ];
    for (const [argument, call] of asyncCases) await assert.rejects(call(), isArgumentError(argument), argument);
  });
});
