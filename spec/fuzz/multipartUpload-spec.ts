/**
 * Fuzz: S3 multipart upload answers (`s3Store(...).upload(key, body, { partSize: 5 MiB })`:
 * `multipartUpload`, `parseUploadId`, `parseCompleteAnswer`, `completeMultipartBody`) against a
 * hostile loopback server answering PutObject, CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload and AbortMultipartUpload from the input.
 *
 * Allocation bound: one part (5 MiB) is gathered at a time and one answer body is held at a time,
 * with undici's buffers: the largest single allocation may be `2 x answer bytes + 6 MiB` (one
 * part and 1 MiB). Besides ending typed, a failed upload must have sent AbortMultipartUpload for
 * every uploadId it sent a part or a Complete for, and a successful one none (issue 14).
 */
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { CaseRunner, fuzzProperty, labelled, type AllocationBound } from './harness.js';
import { applyMutations, mutation } from './mutate.js';
import type { MultipartAnswer, MultipartInput } from './targets/multipartUpload.js';

const bound: AllocationBound = { perByte: 2, constant: 6 * 1024 * 1024 };

const uploadId = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '   ',
      'a&b=c',
      '&amp;id',
      '&#x0;',
      '&bogus;',
      '<![CDATA[id<1>]]>',
      '<!-- c -->id',
      '../../other/key?uploads',
      'id with spaces+plus%2F',
      'ü€😀',
      'x'.repeat(64 * 1024),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

const prolog = fc.constantFrom('<?xml version="1.0" encoding="UTF-8"?>', '', '<!DOCTYPE x [<!ENTITY a "b">]>', '\ufeff');
const xmlns = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

const createAnswer: fc.Arbitrary<MultipartAnswer> = fc
  .record({
    status: fc.constantFrom(200, 200, 200, 500, 503, 403),
    prolog,
    root: fc.constantFrom(
      'InitiateMultipartUploadResult',
      'InitiateMultipartUploadResult',
      'Error',
      'CompleteMultipartUploadResult',
      's3:InitiateMultipartUploadResult',
    ),
    uploadId,
    idTag: fc.constantFrom('UploadId', 'UploadId', 'UploadId', 'uploadid', ''),
    cut: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(200) }),
  })
  .map(({ status, prolog, root, uploadId, idTag, cut }) => {
    const id = idTag === '' ? '' : `<${idTag}>${uploadId}</${idTag}>`;
    const body = `${prolog}<${root}${xmlns}><Bucket>fuzz</Bucket><Key>train/shard-000000.tar</Key>${id}</${root}>`;
    return { status, body: cut === undefined ? body : body.slice(0, cut) };
  });

const partAnswer: fc.Arbitrary<MultipartAnswer> = fc.record({
  status: fc.constantFrom(200, 200, 200, 500, 503, 400),
  body: fc.constantFrom('', '', '<Error><Code>InvalidPart</Code></Error>'),
  etag: fc.constantFrom(
    '"0f343b0931126a20f133d67c2b018a3b"',
    '"0f343b0931126a20f133d67c2b018a3b"',
    undefined,
    '',
    ' ',
    'W/"weak"',
    '"<a>&amp;</b>"',
    ']]><![CDATA[',
    '"x"\t"y"',
    'e'.repeat(8 * 1024),
    'e'.repeat(70 * 1024),
  ),
});

const errorCode = fc.constantFrom(
  'InternalError',
  'SlowDown',
  'ServiceUnavailable',
  'RequestTimeout',
  'AccessDenied',
  'InvalidPart',
  'NoSuchUpload',
  '',
  '&amp;',
  '<![CDATA[SlowDown]]>',
);
const completeAnswer: fc.Arbitrary<MultipartAnswer> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({ status: fc.constantFrom(200, 200, 200, 500), prolog, etag: fc.constantFrom('"abc-3"', '', '&lt;', '<![CDATA[x]]>') })
      .map(({ status, prolog, etag }) => ({
        status,
        body: `${prolog}<CompleteMultipartUploadResult${xmlns}><Location>http://x/fuzz/k</Location><Bucket>fuzz</Bucket><Key>train/shard-000000.tar</Key><ETag>${etag}</ETag></CompleteMultipartUploadResult>`,
      })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        status: fc.constantFrom(200, 200, 500, 404),
        prolog,
        code: errorCode,
        message: fc.oneof(
          fc.constantFrom('We encountered an internal error.', '', '&#xFFFFFFFF;', 'm'.repeat(2 * 1024 * 1024)),
          fc.string({ maxLength: 20 }),
        ),
      })
      .map(({ status, prolog, code, message }) => ({
        status,
        body: `${prolog}<Error><Code>${code}</Code><Message>${message}</Message><RequestId>r</RequestId></Error>`,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        '',
        '<CompleteMultipartUploadResult>',
        '<CompleteMultipartUploadResult><Bucket>fuzz</Buck',
        '<Error><Code>SlowDown</Code>',
        '<ListBucketResult></ListBucketResult>',
        '<Error><Code>&a;</Code></Error>',
        '<![CDATA[<CompleteMultipartUploadResult/>]]>',
        '<!-- <Error/> --><CompleteMultipartUploadResult/>',
        'not xml at all',
        `<CompleteMultipartUploadResult>${' '.repeat(2 * 1024 * 1024)}</CompleteMultipartUploadResult>`,
        `<${'a'.repeat(100_000)}/>`,
        '<a>'.repeat(10_000),
      )
      .map((body) => ({ status: 200, body })),
  },
);

const abortAnswer: fc.Arbitrary<MultipartAnswer> = fc.constantFrom(
  { status: 204, body: '' },
  { status: 204, body: '' },
  { status: 404, body: '<Error><Code>NoSuchUpload</Code></Error>' },
  { status: 500, body: '<Error><Code>InternalError</Code></Error>' },
);

const putAnswer: fc.Arbitrary<MultipartAnswer> = fc.constantFrom(
  { status: 200, body: '' },
  { status: 200, body: '<Error><Code>InternalError</Code></Error>' },
  { status: 500, body: '' },
  { status: 403, body: '<Error><Code>AccessDenied</Code><Message>no</Message></Error>' },
);

const generated: fc.Arbitrary<MultipartInput> = fc.record({
  body: fc.constantFrom('small' as const, 'parts' as const, 'parts' as const),
  put: putAnswer,
  create: fc.array(createAnswer, { minLength: 1, maxLength: 2 }),
  part: fc.array(partAnswer, { minLength: 1, maxLength: 4 }),
  complete: fc.array(completeAnswer, { minLength: 1, maxLength: 3 }),
  abort: fc.array(abortAnswer, { minLength: 1, maxLength: 2 }),
});

/** A real upload's answers (as RGW gives them), the seed of the byte mutations. */
const realCreate = `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult${xmlns}><Bucket>fuzz</Bucket><Key>train/shard-000000.tar</Key><UploadId>2~iCw_lXf3EOZ0fPUm4bOSRlHiNzd2r1W</UploadId></InitiateMultipartUploadResult>`;
const realComplete = `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult${xmlns}><Location>http://127.0.0.1/fuzz/train/shard-000000.tar</Location><Bucket>fuzz</Bucket><Key>train/shard-000000.tar</Key><ETag>"c9f6b3f0d6f3b4ab0f6e8c1b5b4d4a71-3"</ETag></CompleteMultipartUploadResult>`;
const realSlowDown = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>tx0</RequestId></Error>`;

const mutated: fc.Arbitrary<MultipartInput> = fc
  .record({
    which: fc.constantFrom('create' as const, 'complete' as const, 'slowdown' as const),
    mutations: fc.array(mutation(1), { minLength: 1, maxLength: 4 }),
  })
  .map(({ which, mutations }) => {
    const seed = which === 'create' ? realCreate : which === 'complete' ? realComplete : realSlowDown;
    const body = Buffer.from(applyMutations(Uint8Array.from(Buffer.from(seed)), mutations, [])).toString('latin1');
    const ok = { status: 200, body: '' };
    return {
      body: 'parts',
      put: ok,
      create: [which === 'create' ? { status: 200, body } : { status: 200, body: realCreate }],
      part: [{ ...ok, etag: '"0f343b0931126a20f133d67c2b018a3b"' }],
      complete:
        which === 'create'
          ? [{ status: 200, body: realComplete }]
          : which === 'complete'
            ? [{ status: 200, body }]
            : [
                { status: 200, body },
                { status: 200, body: realComplete },
              ],
      abort: [{ status: 204, body: '' }],
    };
  });

const summary = (input: MultipartInput): string =>
  JSON.stringify(input, (_key, value: unknown) =>
    typeof value === 'string' && value.length > 200 ? `${value.slice(0, 60)}...(${value.length} chars)` : value,
  ).slice(0, 1500);

describe('fuzz: S3 multipart upload answers (s3Store.upload)', () => {
  const runner = new CaseRunner('multipartUpload');
  after(() => runner.close());

  it('issue 14: hostile multipart answers end, typed, aborting what they created, within 2 x answer bytes + 6 MiB', async () => {
    const arbitrary = fc
      .oneof({ weight: 3, arbitrary: generated }, { weight: 1, arbitrary: mutated })
      .map((input) => labelled({ ...input }, summary(input)));
    await fuzzProperty({ parser: 'multipart-upload', target: 'multipartUpload', arbitrary, bound, runs: 150, runner });
  });
});
