import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { InvalidArgumentError, RxfeedError } from '../../../src/errors.js';
import { fromWebDataset, ReservedFieldError, type WebDatasetSample } from '../../../sources/webdataset/index.js';
import { packTar, scratchDir, text } from './tarFixtures.js';

describe('fromWebDataset sample keys are data', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());
  const samples = (path: string, options?: Parameters<typeof fromWebDataset>[1]): Promise<WebDatasetSample[]> =>
    lastValueFrom(fromWebDataset(path, options).pipe(toArray()));
  const field = (sample: object, name: string): string => {
    const descriptor = Object.getOwnPropertyDescriptor(sample, name);
    assert.ok(descriptor !== undefined, `no own field '${name}'`);
    assert.ok(descriptor.enumerable === true && descriptor.writable === true);
    return text(descriptor.value);
  };

  it('issue 9.4: a member x.__proto__ is a field named __proto__, not the sample prototype', async () => {
    const path = scratch.write(
      'proto.tar',
      await packTar([
        { name: 'x.__proto__', data: 'proto bytes' },
        { name: 'x.txt', data: 'text' },
      ]),
    );
    const [sample, ...rest] = await samples(path);
    assert.equal(rest.length, 0);
    assert.equal(Object.getPrototypeOf(sample), Object.prototype);
    assert.deepEqual(Object.keys(sample!), ['__key__', '__url__', '__proto__', 'txt']);
    assert.equal(field(sample!, '__proto__'), 'proto bytes');
    assert.equal(field(sample!, 'txt'), 'text');
  });

  it('issue 9.4: constructor, toString, hasOwnProperty and valueOf extensions are plain fields', async () => {
    const names = ['constructor', 'tostring', 'hasownproperty', 'valueof', '__definegetter__'];
    const path = scratch.write(
      'object-names.tar',
      await packTar([...names.map((name) => ({ name: `k.${name}`, data: name })), { name: 'k.toString', data: 'dup' }]),
    );
    // `k.toString` lower-cases to `tostring`: a duplicate, detected though Object.prototype has `toString`.
    await assert.rejects(samples(path), { code: 'RXFEED_ERR_DUPLICATE_FIELD' });
    const clean = scratch.write('object-names-ok.tar', await packTar(names.map((name) => ({ name: `k.${name}`, data: name }))));
    const [sample] = await samples(clean);
    assert.equal(Object.getPrototypeOf(sample), Object.prototype);
    for (const name of names) assert.equal(field(sample!, name), name);
  });

  it("issue 9.4: missing: 'zero' fills a missing __proto__ field as a field, never as the prototype", async () => {
    const path = scratch.write('zero-proto.tar', await packTar([{ name: 'a.txt', data: 'a' }]));
    const [sample] = await samples(path, { extensions: ['txt', '__proto__', 'constructor'], missing: 'zero' });
    assert.equal(Object.getPrototypeOf(sample), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(sample, '__proto__')?.value.byteLength, 0);
    assert.equal(Object.getOwnPropertyDescriptor(sample, 'constructor')?.value.byteLength, 0);
    // A field of Object.prototype's name is missing until a member gives it: 'error' says so.
    await assert.rejects(samples(path, { extensions: ['constructor'] }), { code: 'RXFEED_ERR_MISSING_FIELD' });
  });

  it('issue 9.4: members x.__key__ and x.__url__ fail typed, naming shard, byte offset and member', async () => {
    for (const reserved of ['__key__', '__url__', '__KEY__']) {
      const path = scratch.write(
        'reserved.tar',
        await packTar([
          { name: 'a.txt', data: 'a' },
          { name: 'x.txt', data: 'x' },
          { name: `x.${reserved}`, data: 'forged' },
        ]),
      );
      const delivered: string[] = [];
      const error = await new Promise<unknown>((resolve) => {
        fromWebDataset(path).subscribe({
          next: (sample) => delivered.push(`${sample.__key__}@${sample.__url__}`),
          error: resolve,
          complete: () => resolve(undefined),
        });
      });
      assert.deepEqual(delivered, [`a@${path}`], reserved);
      assert.ok(error instanceof ReservedFieldError && error instanceof RxfeedError, String(error));
      assert.equal(error.code, 'RXFEED_ERR_RESERVED_FIELD');
      assert.deepEqual([error.shard, error.offset, error.member, error.extension], [path, 2048, `x.${reserved}`, reserved.toLowerCase()]);
      assert.ok(error.message.includes(path) && error.message.includes(`'x.${reserved}'`) && error.message.includes('2048'));
    }
  });

  it('issue 9.4: reserved names cannot be expected extensions', () => {
    for (const extensions of [['__key__'], ['png', '__URL__']]) {
      assert.throws(() => fromWebDataset('x.tar', { extensions }), InvalidArgumentError);
    }
  });
});
