import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { of } from 'rxjs';
import { InvalidArgumentError } from '../../src/errors.js';
import { sizeOf, withInfo } from '../../src/info.js';

describe('withInfo', () => {
  it('attaches a size that sizeOf reads back', () => {
    assert.equal(sizeOf(withInfo(of(1, 2, 3), { size: 3 })), 3);
  });

  for (const size of [-1, 1.5, Number.NaN, 2 ** 53, '3' as unknown as number]) {
    it(`issue 9.13: size ${String(size)} is an InvalidArgumentError naming withInfo.size, not a RangeError`, () => {
      assert.throws(
        () => withInfo(of(1), { size }),
        (error: unknown) =>
          error instanceof InvalidArgumentError && error.code === 'RXFEED_ERR_INVALID_ARG' && error.argument === 'withInfo.size',
      );
    });
  }
});
