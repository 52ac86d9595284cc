import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors.js';
import { expandBraces } from '../../../sources/core/expandBraces.js';
import { parseContentRange } from '../../../sources/objectstore/http.js';
import { decodeEntities, describeS3Error, parseListObjectsV2, parseXml } from '../../../sources/objectstore/xml.js';

describe('expandBraces', () => {
  it('expands a zero-padded WebDataset range', () => {
    const names = expandBraces('shard-{000000..000099}.tar');
    assert.equal(names.length, 100);
    assert.equal(names[0], 'shard-000000.tar');
    assert.equal(names[42], 'shard-000042.tar');
    assert.equal(names[99], 'shard-000099.tar');
  });

  it('does not pad a range written without leading zeros', () => {
    assert.deepEqual(expandBraces('s{8..11}'), ['s8', 's9', 's10', 's11']);
  });

  it('expands lists and several groups, rightmost fastest', () => {
    assert.deepEqual(expandBraces('{train,val}/part-{0..1}.tar'), [
      'train/part-0.tar',
      'train/part-1.tar',
      'val/part-0.tar',
      'val/part-1.tar',
    ]);
  });

  it('keeps a URL with no group as it is', () => {
    assert.deepEqual(expandBraces('http://h:1/a/b.tar'), ['http://h:1/a/b.tar']);
  });

  it('rejects unbalanced, nested and descending groups', () => {
    for (const bad of ['a{0..1', 'a}b', '{a,{b,c}}', '{9..1}']) {
      assert.throws(() => expandBraces(bad), InvalidArgumentError, bad);
    }
  });
});

describe('XML: ListObjectsV2', () => {
  const page = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>a/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>a/one &amp; &lt;two&gt; &quot;q&quot; &apos;s&apos; &#233;&#x4E2D;.bin</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
  <!-- a comment -->
  <Contents><Key><![CDATA[a/<raw> & cdata]]></Key><Size>0</Size></Contents>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>`;

  it('reads keys (entities and CDATA decoded), sizes, ETags and the continuation token', () => {
    assert.deepEqual(parseListObjectsV2(page), {
      entries: [
        { key: `a/one & <two> "q" 's' é中.bin`, size: 12, etag: '"0cc175b9c0f1b6a831c399e269772661"' },
        { key: 'a/<raw> & cdata', size: 0 },
      ],
      continuation: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
    });
  });

  it('has no continuation on the last page, and reads an empty listing', () => {
    const last = page.replace('<IsTruncated>true</IsTruncated>', '<IsTruncated>false</IsTruncated>');
    assert.equal(parseListObjectsV2(last).continuation, undefined);
    assert.deepEqual(parseListObjectsV2('<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>'), { entries: [] });
  });

  it('rejects malformed documents and inconsistent listings', () => {
    assert.throws(() => parseXml('<a><b></a></b>'), { code: 'RXFEED_ERR_OBJECT_PROTOCOL' });
    assert.throws(() => parseXml('<a>'), { code: 'RXFEED_ERR_OBJECT_PROTOCOL' });
    assert.throws(() => parseXml('<a/><b/>'), { code: 'RXFEED_ERR_OBJECT_PROTOCOL' });
    assert.throws(() => decodeEntities('&nbsp;'), { code: 'RXFEED_ERR_OBJECT_PROTOCOL' });
    assert.throws(() => parseListObjectsV2('<Error><Code>X</Code></Error>'), { code: 'RXFEED_ERR_OBJECT_PROTOCOL' });
    assert.throws(
      () => parseListObjectsV2('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>'),
      /NextContinuationToken/,
    );
    assert.throws(() => parseListObjectsV2('<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>'), /Size/);
  });

  it('reads attributes holding > and namespace prefixes', () => {
    const root = parseXml(`<s:Root a="x>y" b='1'><s:Child/>text</s:Root>`);
    assert.equal(root.name, 'Root');
    assert.equal(root.children[0]!.name, 'Child');
    assert.equal(root.text, 'text');
  });

  it('describes S3 error documents', () => {
    const error =
      '<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature &amp; more</Message></Error>';
    assert.equal(describeS3Error(error), 'SignatureDoesNotMatch: The request signature & more');
    assert.equal(describeS3Error('plain text'), 'plain text');
  });
});

describe('Content-Range', () => {
  it('parses ranges and unsatisfied ranges', () => {
    assert.deepEqual(parseContentRange('bytes 0-9/100'), { first: 0, last: 9, total: 100 });
    assert.deepEqual(parseContentRange('bytes */100'), { first: undefined, last: undefined, total: 100 });
    assert.deepEqual(parseContentRange('bytes 5-9/*'), { first: 5, last: 9, total: undefined });
    assert.equal(parseContentRange('items 1-2/3'), undefined);
  });
});
