/**
 * Fuzz: S3 ListObjectsV2 answers (`parseListObjectsV2` through `s3Store(...).list`, against a
 * hostile loopback server that answers each request with the next page, then the last page again).
 *
 * Allocation bound: one answer body is held at a time, with undici's buffers: the largest single
 * allocation may be `2 x answer bytes + 1 MiB`. A listing that repeats a continuation token must
 * end, typed (issue 9.6).
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { listObjectsFixtures, listObjectsPage } from './fixtures/crashInputs.js';
import { CaseRunner, checkFixture, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyMutations, mutation } from './mutate.js';

const bound: AllocationBound = { perByte: 2, constant: 1024 * 1024 };
const fixtures = listObjectsFixtures();

const key = fc.oneof(
  fc.constantFrom(
    'train/shard-000000.tar',
    'a.tar',
    '',
    '&amp;',
    '&lt;x&gt;',
    '&#x0;',
    '&#xFFFFFFFF;',
    '&bogus;',
    '../b/secret',
    '<![CDATA[a<b]]>',
    '<!-- c -->k',
    'a'.repeat(3000),
  ),
  fc.string({ maxLength: 20 }),
);
const size = fc.constantFrom('10240', '0', '-1', '1e3', ' 5 ', '', '99999999999999999999', 'NaN');
const entry = fc
  .tuple(key, size, fc.boolean())
  .map(([k, s, etag]) => `<Contents><Key>${k}</Key><Size>${s}</Size>${etag ? '<ETag>"x"</ETag>' : ''}</Contents>`);
const truncated = fc.constantFrom(
  '<IsTruncated>true</IsTruncated>',
  '<IsTruncated>false</IsTruncated>',
  '<IsTruncated>TRUE</IsTruncated>',
  '',
  '<IsTruncated>true',
);
const token = fc.constantFrom(
  '<NextContinuationToken>t1</NextContinuationToken>',
  '<NextContinuationToken>t2</NextContinuationToken>',
  '<NextContinuationToken></NextContinuationToken>',
  '',
  '<NextContinuationToken>same</NextContinuationToken>',
);
const page = fc
  .record({
    entries: fc.array(entry, { maxLength: 4 }),
    truncated,
    token,
    wrapper: fc.constantFrom(
      'ListBucketResult',
      'ListBucketResult',
      'Error',
      's3:ListBucketResult',
      'ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"',
    ),
    prolog: fc.constantFrom('<?xml version="1.0" encoding="UTF-8"?>', '', '<!DOCTYPE x [<!ENTITY a "b">]>'),
  })
  .map(
    ({ entries, truncated, token, wrapper, prolog }) =>
      `${prolog}<${wrapper}><Name>fuzz</Name>${truncated}${token}${entries.join('')}</${wrapper.split(' ')[0]}>`,
  );

/** A well-formed three-page listing, the seed of the byte mutations. */
const realListing = [
  listObjectsPage(['a/0.tar', 'a/1.tar'], 'page-2'),
  listObjectsPage(['a/2.tar'], 'page-3'),
  listObjectsPage(['b/0.tar']),
];

const pages = fc.oneof(
  { weight: 2, arbitrary: fc.array(page, { minLength: 1, maxLength: 4 }) },
  // The fixtures, with generated pages in front of them.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(page, { maxLength: 2 }), fc.constantFrom(...Object.values(fixtures)))
      .map(([before, fixture]) => [...before, ...fixture.pages]),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(2), fc.array(mutation(1), { minLength: 1, maxLength: 4 }))
      .map(([which, mutations]) =>
        realListing.map((text, index) =>
          index === which ? Buffer.from(applyMutations(Uint8Array.from(Buffer.from(text)), mutations, [])).toString('latin1') : text,
        ),
      ),
  },
);

describe('fuzz: ListObjectsV2 listings (s3Store.list)', () => {
  const runner = new CaseRunner('listObjectsV2');
  after(() => runner.close());

  for (const [name, input] of Object.entries(fixtures)) {
    it(`issue 9.6: regression fixture ${name} ends typed within the allocation bound`, async () => {
      await checkFixture(runner, input, bound);
    });
  }

  it('issue 9: hostile ListObjectsV2 answers end, typed, within 2 x answer bytes + 1 MiB', async () => {
    const arbitrary = pages.map((list) => labelled({ pages: list }, JSON.stringify(list).slice(0, 1500)));
    await fuzzProperty({ parser: 'listobjects-v2', target: 'listObjectsV2', arbitrary, bound, runs: 200, runner });
  });
});
