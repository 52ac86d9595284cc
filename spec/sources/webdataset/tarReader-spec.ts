import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lastValueFrom, toArray } from 'rxjs';
import { InvalidArgumentError, RxfeedError } from '../../../src/errors.js';
import { CorruptShardError, MemberTooLargeError, TruncatedShardError } from '../../../sources/webdataset/errors.js';
import { fromWebDataset, UnsafeMemberError } from '../../../sources/webdataset/index.js';
import { parseNumber } from '../../../sources/webdataset/tarHeader.js';
import { TarParser, type TarMemberType } from '../../../sources/webdataset/tarReader.js';
import { gzip, packTar, scratchDir } from './tarFixtures.js';

/** What the parser gave for one member: file data as bytes, other members without. */
interface Parsed {
  readonly name: string;
  readonly type: TarMemberType;
  readonly size: number;
  readonly offset: number;
  readonly data?: Uint8Array;
}

/**
 * Parse `archive` fed as the chunks `split` cuts it into, the way ShardReader drives the parser:
 * ask, and push the next chunk only when it answers `undefined`. Counts the chunks taken.
 */
function parse(
  archive: Uint8Array,
  split: (archive: Uint8Array) => Uint8Array[] = (bytes) => [bytes],
): { members: Parsed[]; chunksRead: number } {
  const chunks = split(archive);
  const parser = new TarParser('test.tar');
  let next = 0;
  const feed = (): void => {
    if (next < chunks.length) parser.push(chunks[next++]!);
    else parser.end();
  };
  const members: Parsed[] = [];
  for (;;) {
    let header = parser.header();
    while (header === undefined) {
      feed();
      header = parser.header();
    }
    if (header === null) break;
    if (header.type === 'file') {
      let data = parser.data();
      while (data === undefined) {
        feed();
        data = parser.data();
      }
      members.push({ ...header, data });
    } else {
      while (!parser.skip()) feed();
      members.push({ ...header });
    }
  }
  return { members, chunksRead: next };
}

/** Cut into chunks of `size` bytes (the last one shorter). */
const chunksOf =
  (size: number) =>
  (bytes: Uint8Array): Uint8Array[] => {
    const chunks: Uint8Array[] = [];
    for (let start = 0; start < bytes.byteLength; start += size) chunks.push(bytes.slice(start, start + size));
    return chunks;
  };

/** The error `parse` throws. */
function parseError(archive: Uint8Array, split?: (archive: Uint8Array) => Uint8Array[]): unknown {
  try {
    parse(archive, split);
  } catch (error) {
    return error;
  }
  assert.fail('expected the parse to fail');
}

const text = (bytes: Uint8Array | undefined): string => new TextDecoder().decode(bytes);
const view = (members: Parsed[]): [string, TarMemberType, string | undefined][] =>
  members.map((member) => [member.name, member.type, member.data === undefined ? undefined : text(member.data)]);
const block = (size: number): number => Math.ceil(size / 512) * 512;

/** A header block written by hand, for what no tar writer here produces. */
function craftHeader(fields: {
  name: string;
  size?: number;
  typeflag?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  prefix?: string;
  /** Raw bytes for the size field (base-256, say) instead of octal. */
  sizeField?: Uint8Array;
  /** Sum the bytes as signed, as some historic writers did. */
  signed?: boolean;
}): Uint8Array {
  const header = new Uint8Array(512);
  const encoder = new TextEncoder();
  header.set(encoder.encode(fields.name), 0);
  header.set(encoder.encode('0000644\0'), 100);
  if (fields.sizeField !== undefined) header.set(fields.sizeField, 124);
  else header.set(encoder.encode(`${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`), 124);
  header.set(encoder.encode('00000000000\0'), 136);
  header[156] = (fields.typeflag ?? '0').charCodeAt(0);
  const magic = fields.magic ?? 'ustar';
  if (magic === 'ustar') header.set(encoder.encode('ustar\x0000'), 257);
  if (magic === 'gnu') header.set(encoder.encode('ustar  \0'), 257);
  if (fields.prefix !== undefined) header.set(encoder.encode(fields.prefix), 345);
  let sum = 8 * 0x20;
  header.forEach((byte, index) => {
    if (index < 148 || index >= 156) sum += fields.signed === true && byte >= 0x80 ? byte - 256 : byte;
  });
  header.set(encoder.encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return header;
}

/** A member's data padded to whole blocks. */
function padded(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const out = new Uint8Array(block(bytes.byteLength));
  out.set(bytes);
  return out;
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const zeroBlocks = (count: number): Uint8Array => new Uint8Array(512 * count);

/** A pax extended header's data: `"<length> <key>=<value>\n"` records. */
function paxRecords(records: Record<string, string>): Uint8Array {
  const encoder = new TextEncoder();
  let out = '';
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    const bodyBytes = encoder.encode(body).byteLength; // the length counts bytes, not characters
    let length = bodyBytes + 1;
    while (String(length).length + bodyBytes !== length) length = String(length).length + bodyBytes;
    out += `${length}${body}`;
  }
  return encoder.encode(out);
}

describe('TarParser on archives written by GNU tar', () => {
  const scratch = scratchDir();
  const tree = join(scratch.dir, 'tree');
  const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
  const longName = `${longDir}/${'f'.repeat(80)}.seg.png`; // 221 characters: beyond the 100 of a name field
  const files: Record<string, Uint8Array> = {
    'a/0001.txt': new TextEncoder().encode('hello'),
    'a/0001.cls': new TextEncoder().encode('7'),
    'a/0002.bin': new Uint8Array(512).map((_, index) => index % 251),
    'a/0003.bin': new Uint8Array(1537).map((_, index) => (index * 7) % 253),
    'a/empty.txt': new Uint8Array(0),
    [longName]: new TextEncoder().encode('long'),
    'a/ünïcødé.txt': new TextEncoder().encode('utf-8 names'),
  };
  before(() => {
    for (const [name, bytes] of Object.entries(files)) {
      mkdirSync(join(tree, name, '..'), { recursive: true });
      writeFileSync(join(tree, name), bytes);
    }
    symlinkSync('0001.txt', join(tree, 'a', 'link.txt'));
  });
  after(() => scratch.cleanup());

  /** `tar c` of the tree in `format`, members in sorted order. */
  const archive = (format: string, names: string[]): Uint8Array => {
    const path = join(scratch.dir, `${format}.tar`);
    execFileSync('tar', ['c', `--format=${format}`, '--sort=name', '-f', path, '-C', tree, ...names]);
    return new Uint8Array(readFileSync(path));
  };

  /** The members as `tar t` lists them, typed by the tree they came from, with the files' data. */
  const expected = (format: string): [string, TarMemberType, string | undefined][] =>
    execFileSync('tar', ['tf', join(scratch.dir, `${format}.tar`), '--quoting-style=literal'], { encoding: 'utf8' })
      .split('\n')
      .filter((name) => name !== '')
      .map((name) => {
        const stats = lstatSync(join(tree, name));
        if (stats.isDirectory()) return [name, 'directory', undefined];
        if (stats.isSymbolicLink()) return [name, 'symlink', undefined];
        return [name, 'file', text(files[name])];
      });

  for (const format of ['gnu', 'pax', 'ustar', 'v7']) {
    it(`reads --format=${format}: names, types and bytes as tar lists them`, () => {
      // v7 has no room for long names (ustar splits them into prefix and name; gnu and pax have
      // their own long-name headers): leave it out there.
      const names = format === 'v7' ? ['a'] : ['a', longDir.split('/')[0]!];
      const tarBytes = archive(format, names);
      const { members } = parse(tarBytes);
      const want = expected(format);
      assert.deepEqual(view(members), want);
      assert.ok(want.some(([, type]) => type === 'symlink') && want.some(([, type]) => type === 'directory'));
      if (format !== 'v7')
        assert.ok(
          members.some((member) => member.name === longName),
          'the long name is whole',
        );
      for (const member of members) {
        if (member.data === undefined) continue;
        assert.deepEqual(member.data, files[member.name], member.name);
        assert.equal(member.size, files[member.name]!.byteLength);
      }
    });
  }

  it('gives each member its own ArrayBuffer of exactly its size', () => {
    const { members } = parse(archive('gnu', ['a']));
    const datas = members.flatMap((member) => (member.data === undefined ? [] : [member.data]));
    assert.equal(new Set(datas.map((data) => data.buffer)).size, datas.length);
    for (const data of datas) {
      assert.equal(data.constructor, Uint8Array);
      assert.deepEqual([data.byteOffset, data.buffer.byteLength], [0, data.byteLength]);
    }
  });

  it('reads an archive with a GNU long link name (K) and skips the link', () => {
    const target = `${'t'.repeat(120)}.txt`;
    symlinkSync(target, join(tree, 'a', 'longlink.txt'));
    const { members } = parse(archive('gnu', ['a/0001.txt', 'a/longlink.txt', 'a/0001.cls']));
    assert.deepEqual(view(members), [
      ['a/0001.txt', 'file', 'hello'],
      ['a/longlink.txt', 'symlink', undefined],
      ['a/0001.cls', 'file', '7'],
    ]);
  });
});

describe('TarParser on archives written by tar-stream', () => {
  it("reads pack()'s ustar headers, directories, links and empty files", async () => {
    const tarBytes = await packTar([
      { name: 'dir', type: 'directory' },
      { name: 'dir/0001.png', data: 'png bytes' },
      { name: 'dir/0001.cls', data: '' },
      { name: 'dir/0002.lnk', type: 'symlink', linkname: '0001.png' },
      { name: `${'x'.repeat(90)}/${'y'.repeat(90)}.txt`, data: 'split into prefix and name' },
      { name: 'big.bin', data: new Uint8Array(70_000).fill(3) },
    ]);
    const { members } = parse(tarBytes);
    assert.deepEqual(view(members.slice(0, 5)), [
      ['dir', 'directory', undefined],
      ['dir/0001.png', 'file', 'png bytes'],
      ['dir/0001.cls', 'file', ''],
      ['dir/0002.lnk', 'symlink', undefined],
      [`${'x'.repeat(90)}/${'y'.repeat(90)}.txt`, 'file', 'split into prefix and name'],
    ]);
    assert.deepEqual(members[5]!.data, new Uint8Array(70_000).fill(3));
    // Offsets are those of each member's header block.
    assert.deepEqual(
      members.slice(0, 5).map((member) => member.offset),
      [0, 512, 1536, 2048, 2560],
    );
  });
});

describe('TarParser across chunk boundaries', () => {
  let archive: Uint8Array;
  let reference: Parsed[];
  before(async () => {
    archive = await packTar([
      { name: 's1.txt', data: 'first' },
      { name: 's1.bin', data: new Uint8Array(700).map((_, index) => index % 256) },
      { name: 'dir', type: 'directory' },
      { name: 's2.bin', data: new Uint8Array(512).fill(9) },
      { name: 's2.cls', data: '' },
      { name: 's3.txt', data: 'last' },
    ]);
    reference = parse(archive).members;
    assert.equal(reference.length, 6);
  });

  for (const size of [1, 7, 511, 512, 513]) {
    it(`gives the same members fed ${size}-byte chunks, one chunk at a time`, () => {
      const { members, chunksRead } = parse(archive, chunksOf(size));
      assert.deepEqual(members, reference);
      assert.equal(chunksRead, Math.ceil(archive.byteLength / size));
    });
  }

  it('gives the same members split in two at every byte offset', () => {
    for (let cut = 1; cut < archive.byteLength; cut++) {
      const { members } = parse(archive, (bytes) => [bytes.slice(0, cut), bytes.slice(cut)]);
      assert.deepEqual(members, reference, `cut at ${cut}`);
    }
  });

  it('reads only as far as it is asked: the first header needs the first block only', () => {
    const parser = new TarParser('lazy.tar');
    assert.equal(parser.header(), undefined);
    parser.push(archive.slice(0, 512));
    assert.equal(parser.header()?.name, 's1.txt');
    assert.equal(parser.data(), undefined); // its data is in the next chunk
    assert.equal(parser.received, 512);
  });

  it('decodes headers in place from a chunk that is a view into a larger buffer', () => {
    const backing = new Uint8Array(archive.byteLength + 100);
    backing.set(archive, 37);
    const { members } = parse(archive, () => [backing.subarray(37, 37 + archive.byteLength)]);
    assert.deepEqual(members, reference);
  });
});

describe('TarParser headers', () => {
  it('decodes GNU base-256 sizes, and refuses negative or unsafe ones', () => {
    const field = (bytes: number[]): Uint8Array => {
      const out = new Uint8Array(12);
      out.set(bytes, 12 - bytes.length);
      out[0] |= 0x80;
      return out;
    };
    // 9 GiB: beyond the 8 GiB - 1 that 11 octal digits hold.
    const nineGiB = 9 * 2 ** 30;
    assert.equal(parseNumber(field([0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x40, 0, 0, 0]), 0, 12), nineGiB);
    assert.equal(parseNumber(field([0x01, 0x02]), 0, 12), 0x0102);
    assert.equal(parseNumber(new Uint8Array([0xff, ...new Array(11).fill(0xff)]), 0, 12), undefined);
    assert.equal(parseNumber(field([0x80, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]), 0, 12), undefined); // 2^64
    // Octal: leading spaces, a space or NUL terminator, an empty field; not other characters.
    const ascii = (value: string): Uint8Array => new TextEncoder().encode(value.padEnd(12, '\0'));
    assert.equal(parseNumber(ascii('  0755 '), 0, 12), 0o755);
    assert.equal(parseNumber(ascii(''), 0, 12), 0);
    assert.equal(parseNumber(ascii('0089'), 0, 12), undefined);
  });

  it('reads a member whose size is written in base-256', () => {
    const sizeField = new Uint8Array(12);
    sizeField[0] = 0x80;
    sizeField[11] = 5;
    const archive = concat(craftHeader({ name: 'b256.txt', sizeField, magic: 'gnu' }), padded('12345'), zeroBlocks(2));
    assert.deepEqual(view(parse(archive).members), [['b256.txt', 'file', '12345']]);
  });

  it('accepts a checksum summed over signed bytes, as tar does', () => {
    const name = 'caf\u00e9.txt'; // é is two bytes of 0x80 or more
    const archive = concat(craftHeader({ name, size: 2, signed: true }), padded('ok'), zeroBlocks(2));
    assert.deepEqual(view(parse(archive).members), [[name, 'file', 'ok']]);
  });

  it('fails with CorruptShardError naming the header offset on a bad checksum', async () => {
    const archive = Buffer.from(
      await packTar([
        { name: 'a.txt', data: 'a'.repeat(600) },
        { name: 'b.txt', data: 'b' },
      ]),
    );
    const second = 512 + block(600);
    archive[second + 10] ^= 0x01; // a byte of the name: the stored checksum no longer matches
    for (const size of [1, 513, archive.byteLength]) {
      const error = parseError(archive, chunksOf(size));
      assert.ok(error instanceof CorruptShardError, String(error));
      assert.deepEqual([error.shard, error.offset, error.code], ['test.tar', second, 'RXFEED_ERR_CORRUPT_SHARD']);
      assert.match(error.message, /checksum/);
    }
    // A checksum field that is not octal is a mismatch too.
    archive[second + 10] ^= 0x01;
    archive[second + 148] = '9'.charCodeAt(0);
    assert.ok(parseError(archive) instanceof CorruptShardError);
    // Random bytes are no tar stream.
    assert.equal((parseError(new Uint8Array(1024).fill(0x41)) as CorruptShardError).offset, 0);
  });

  it('issue 12: checks the checksum alike whatever the alignment of the chunk in its ArrayBuffer', () => {
    // High bytes everywhere a header allows them, so that four-byte sums would show any carry
    // between lanes; the signed header sums them as signed, so only the signed test accepts it.
    const name = '\u00ff'.repeat(48) + '.bin'; // the whole 100-byte name field
    const members = concat(
      craftHeader({ name, size: 3 }),
      padded('abc'),
      craftHeader({ name: 'x\u00e9.txt', size: 1, signed: true }),
      padded('z'),
      zeroBlocks(2),
    );
    const broken = members.slice();
    broken[3] ^= 0x01;
    for (const shift of [0, 1, 2, 3]) {
      // The archive at byte `shift` of its buffer, cut so that headers lie inside chunks and across them.
      const at = (archive: Uint8Array): Uint8Array => {
        const buffer = new Uint8Array(shift + archive.byteLength);
        buffer.set(archive, shift);
        return buffer.subarray(shift);
      };
      for (const split of [(bytes: Uint8Array) => [bytes], chunksOf(700)]) {
        assert.deepEqual(view(parse(at(members), split).members), [
          [name, 'file', 'abc'],
          ['x\u00e9.txt', 'file', 'z'],
        ]);
        const error = parseError(at(broken), split);
        assert.ok(error instanceof CorruptShardError && error.offset === 0, `shift ${shift}: ${String(error)}`);
      }
    }
  });

  it('takes the name from the ustar prefix only with the POSIX magic', () => {
    const ustar = concat(craftHeader({ name: 'n.txt', prefix: 'pre/fix', size: 1 }), padded('u'));
    const gnu = concat(craftHeader({ name: 'n.txt', prefix: 'pre/fix', size: 1, magic: 'gnu' }), padded('g'));
    assert.deepEqual(view(parse(concat(ustar, gnu, zeroBlocks(2))).members), [
      ['pre/fix/n.txt', 'file', 'u'],
      ['n.txt', 'file', 'g'],
    ]);
  });

  it('types v7 members: a trailing slash makes a directory, with no data on tape', () => {
    const archive = concat(
      craftHeader({ name: 'old/', magic: 'v7', typeflag: '\0' }),
      craftHeader({ name: 'old/x.txt', size: 3, magic: 'v7', typeflag: '\0' }),
      padded('v7!'),
      craftHeader({ name: 'old/y.dev', magic: 'v7', typeflag: '3' }),
      craftHeader({ name: 'old/z.txt', size: 1, typeflag: '7' }),
      padded('c'),
    );
    assert.deepEqual(view(parse(archive).members), [
      ['old/', 'directory', undefined],
      ['old/x.txt', 'file', 'v7!'],
      ['old/y.dev', 'other', undefined],
      ['old/z.txt', 'file', 'c'],
    ]);
  });
});

describe('TarParser extended headers', () => {
  it('lets a pax path override the name, and a pax size the size', () => {
    const pax = paxRecords({ mtime: '1700000000.5', path: 'from/pax/ärger.txt', size: '6' });
    const archive = concat(
      craftHeader({ name: 'PaxHeaders/x', size: pax.byteLength, typeflag: 'x' }),
      padded(pax),
      craftHeader({ name: 'truncated-name.txt', size: 0 }),
      padded('sixsix'),
      craftHeader({ name: 'plain.txt', size: 1 }),
      padded('p'),
      zeroBlocks(2),
    );
    const { members } = parse(archive, chunksOf(100));
    assert.deepEqual(view(members), [
      ['from/pax/ärger.txt', 'file', 'sixsix'],
      ['plain.txt', 'file', 'p'], // the records applied to one member only
    ]);
    assert.equal(members[0]!.offset, 1024);
  });

  it('ignores pax global headers and a pax path that is empty', () => {
    const global = paxRecords({ path: 'global/name.txt' });
    const empty = paxRecords({ path: '' });
    const archive = concat(
      craftHeader({ name: 'pax_global_header', size: global.byteLength, typeflag: 'g' }),
      padded(global),
      craftHeader({ name: 'PaxHeaders/y', size: empty.byteLength, typeflag: 'x' }),
      padded(empty),
      craftHeader({ name: 'own.txt', size: 1 }),
      padded('o'),
    );
    assert.deepEqual(view(parse(archive).members), [['own.txt', 'file', 'o']]);
  });

  it('applies a GNU long name (L) to the next member only', () => {
    const long = `${'n'.repeat(300)}.txt`;
    const nameData = new TextEncoder().encode(`${long}\0`);
    const archive = concat(
      craftHeader({ name: '././@LongLink', size: nameData.byteLength, typeflag: 'L', magic: 'gnu' }),
      padded(nameData),
      craftHeader({ name: long.slice(0, 100), size: 1, magic: 'gnu' }),
      padded('L'),
      craftHeader({ name: 'short.txt', size: 1, magic: 'gnu' }),
      padded('s'),
    );
    assert.deepEqual(view(parse(archive, chunksOf(7)).members), [
      [long, 'file', 'L'],
      ['short.txt', 'file', 's'],
    ]);
  });

  it('fails on a malformed pax record, naming the pax header', () => {
    const bad = new TextEncoder().encode('99 path=x\n');
    const archive = concat(
      craftHeader({ name: 'ok.txt', size: 1 }),
      padded('k'),
      craftHeader({ name: 'PaxHeaders/z', size: bad.byteLength, typeflag: 'x' }),
      padded(bad),
      craftHeader({ name: 'z.txt', size: 1 }),
      padded('z'),
    );
    const error = parseError(archive);
    assert.ok(error instanceof CorruptShardError);
    assert.equal(error.offset, 1024);
  });
});

describe('TarParser end of archive and truncation', () => {
  const member = (name: string, data: string): Uint8Array => concat(craftHeader({ name, size: data.length }), padded(data));

  it('stops at two zero blocks and ignores what follows; a lone zero block is passed over', () => {
    const archive = concat(
      member('a.txt', 'a'),
      zeroBlocks(1),
      member('b.txt', 'b'),
      zeroBlocks(2),
      member('after-the-end.txt', 'x'),
      new Uint8Array(300).fill(0x5a), // not even whole blocks
    );
    for (const size of [1, 512, archive.byteLength]) {
      assert.deepEqual(view(parse(archive, chunksOf(size)).members), [
        ['a.txt', 'file', 'a'],
        ['b.txt', 'file', 'b'],
      ]);
    }
    const parser = new TarParser('end.tar');
    parser.push(archive);
    while (parser.header() !== null) parser.skip();
    assert.ok(parser.done);
    parser.push(new Uint8Array(10)); // counted and dropped
    parser.end();
    assert.equal(parser.received, archive.byteLength + 10);
  });

  it('ends cleanly at a block boundary without end blocks, and an empty stream is an empty archive', () => {
    const archive = concat(member('a.txt', 'a'), member('b.txt', 'b'));
    assert.deepEqual(view(parse(archive, chunksOf(512)).members), [
      ['a.txt', 'file', 'a'],
      ['b.txt', 'file', 'b'],
    ]);
    assert.deepEqual(parse(new Uint8Array(0)).members, []);
  });

  it('fails with TruncatedShardError inside a header, data or padding, naming the offset and the member', () => {
    const archive = concat(member('a.txt', 'a'.repeat(600)), member('b.txt', 'b'.repeat(600)), zeroBlocks(2));
    const second = 512 + block(600);
    const cases: [string, number, string | undefined][] = [
      ['inside the first header', 100, undefined],
      ['inside the second header', second + 300, undefined],
      ['inside the data', second + 512 + 200, 'b.txt'],
      ['inside the padding', second + 512 + 600 + 10, undefined],
      ['at the end of the data', second + 512 + 600, undefined],
    ];
    for (const [where, cut, name] of cases) {
      for (const size of [1, 511, cut]) {
        const error = parseError(archive.slice(0, cut), chunksOf(size));
        assert.ok(error instanceof TruncatedShardError, `${where}: ${String(error)}`);
        assert.deepEqual([error.shard, error.offset, error.compressed, error.member], ['test.tar', cut, false, name], where);
      }
    }
  });

  it('fails when the stream ends after a long-name or pax header, before its member', () => {
    const pax = paxRecords({ path: 'p.txt' });
    const archive = concat(craftHeader({ name: 'PaxHeaders/p', size: pax.byteLength, typeflag: 'x' }), padded(pax));
    assert.ok(parseError(archive) instanceof TruncatedShardError);
    assert.ok(parseError(archive.slice(0, 520)) instanceof TruncatedShardError);
  });
});

describe('fromWebDataset through the tar parser', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());
  const samples = (path: string): Promise<unknown[]> => lastValueFrom(fromWebDataset(path).pipe(toArray()));

  it('rejects a pax path with a .. segment, whatever the header name says', async () => {
    const pax = paxRecords({ path: 'ok/../../evil.txt' });
    const archive = concat(
      craftHeader({ name: 'PaxHeaders/e', size: pax.byteLength, typeflag: 'x' }),
      padded(pax),
      craftHeader({ name: 'innocent.txt', size: 1 }),
      padded('e'),
      zeroBlocks(2),
    );
    const path = scratch.write('pax-evil.tar', archive);
    await assert.rejects(samples(path), (error: unknown) => error instanceof UnsafeMemberError && error.member === 'ok/../../evil.txt');
  });

  it('checks a gzip shard to its end: a bad CRC after the end blocks fails the shard', async () => {
    // Incompressible bytes after the end blocks (which a reader ignores) put the gzip trailer far
    // behind them in the compressed stream: the reader must read on to see it.
    const tail = new Uint8Array(300_000).map((_, index) => (index * 2654435761) >>> 24);
    const archive = concat(
      await packTar([
        { name: 'a.txt', data: 'a' },
        { name: 'b.txt', data: 'b' },
      ]),
      tail,
    );
    const compressed = gzip(archive);
    const read = (path: string): Promise<unknown[]> => lastValueFrom(fromWebDataset(path, { chunkSize: 4096 }).pipe(toArray()));
    assert.equal((await read(scratch.write('good.tgz', compressed))).length, 2);
    compressed[compressed.byteLength - 8] ^= 0xff; // the CRC-32 of the gzip trailer
    await assert.rejects(read(scratch.write('bad-crc.tgz', compressed)), CorruptShardError);
  });
});

describe('TarParser member sizes from untrusted headers (issue 9.5)', () => {
  const scratch = scratchDir();
  after(() => scratch.cleanup());
  /** A base-256 size field holding `size`. */
  const base256 = (size: number): Uint8Array => {
    const field = new Uint8Array(12);
    let rest = BigInt(size);
    for (let index = 11; index > 0; index--) {
      field[index] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    field[0] = 0x80;
    return field;
  };
  /** A 2.5 KB shard: one member whose header claims `size` bytes, followed by 2 KB of it. */
  const liar = (sizeField: Uint8Array, name = 'huge.bin'): Uint8Array =>
    concat(craftHeader({ name, sizeField, magic: 'gnu' }), new Uint8Array(2048).fill(0x41));
  const tooLarge = (error: unknown, offset: number, member: string, size: number): true => {
    assert.ok(error instanceof MemberTooLargeError && error instanceof RxfeedError, String(error));
    assert.equal(error.code, 'RXFEED_ERR_MEMBER_TOO_LARGE');
    assert.deepEqual([error.shard, error.offset, error.member, error.size, error.limit], ['test.tar', offset, member, size, 2 ** 30]);
    return true;
  };

  it('issue 9.5: a 2.5 KB shard whose base-256 header claims 4 GiB fails typed, allocating none of it', () => {
    const before = process.memoryUsage().arrayBuffers;
    tooLarge(parseError(liar(base256(4 * 2 ** 30))), 0, 'huge.bin', 4 * 2 ** 30);
    assert.ok(process.memoryUsage().arrayBuffers - before < 2 ** 24);
  });

  it('issue 9.5: a pax size=3000000000 fails typed, naming the member it applies to', () => {
    const pax = paxRecords({ size: '3000000000' });
    const archive = concat(
      craftHeader({ name: 'PaxHeaders/big', size: pax.byteLength, typeflag: 'x' }),
      padded(pax),
      craftHeader({ name: 'big.bin', size: 10 }),
      padded('0123456789'),
    );
    tooLarge(parseError(archive), 1024, 'big.bin', 3_000_000_000);
  });

  it('issue 9.5: sizes of 2^33 and more fail typed, never with a RangeError', () => {
    for (const size of [2 ** 33, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      for (const chunk of [100, 4096]) tooLarge(parseError(liar(base256(size)), chunksOf(chunk)), 0, 'huge.bin', size);
    }
  });

  it('issue 9.5: below the limit, memory follows the bytes that arrive, not the size declared', () => {
    const declared = 900 * 2 ** 20;
    const archive = liar(new TextEncoder().encode(`${declared.toString(8).padStart(11, '0')}\0`));
    const parser = new TarParser('test.tar');
    const before = process.memoryUsage().arrayBuffers;
    parser.push(archive.subarray(0, 1024));
    assert.equal(parser.header()?.size, declared);
    assert.equal(parser.data(), undefined);
    parser.push(archive.subarray(1024));
    assert.equal(parser.data(), undefined);
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(held < 2 ** 24, `holds ${held} bytes for 2 KB received`);
    assert.throws(
      () => parser.end(),
      (error: unknown) => error instanceof TruncatedShardError && error.offset === archive.byteLength && error.member === 'huge.bin',
    );
  });

  it('grows a member that spans many chunks to exactly its size, in its own ArrayBuffer', () => {
    const data = new Uint8Array(300_000).map((_, index) => (index * 2654435761) >>> 24);
    const archive = concat(craftHeader({ name: 'grown.bin', size: data.byteLength }), padded(data), zeroBlocks(2));
    for (const size of [1000, 65_536, 70_000]) {
      const [member] = parse(archive, chunksOf(size)).members;
      assert.deepEqual(member!.data, data);
      assert.equal(member!.data!.buffer.byteLength, data.byteLength);
    }
  });

  it('takes maxMemberSize: a member over it fails typed; at it, it is read', () => {
    const archive = concat(craftHeader({ name: 'm.bin', size: 2000 }), padded(new Uint8Array(2000)), zeroBlocks(2));
    const read = (maxMemberSize: number): unknown => {
      const parser = new TarParser('test.tar', { maxMemberSize });
      parser.push(archive);
      parser.header();
      try {
        return parser.data()?.byteLength;
      } catch (error) {
        return error;
      }
    };
    assert.equal(read(2000), 2000);
    const error = read(1999);
    assert.ok(error instanceof MemberTooLargeError);
    assert.deepEqual([error.member, error.size, error.limit], ['m.bin', 2000, 1999]);
  });

  it('issue 9.5: fromWebDataset fails typed on a lying header, plain and gzip, and checks maxMemberSize', async () => {
    const archive = liar(base256(4 * 2 ** 30), 'k.bin');
    for (const [name, bytes] of [
      ['liar.tar', archive],
      ['liar.tgz', gzip(archive)],
    ] as const) {
      const path = scratch.write(name, bytes);
      await assert.rejects(lastValueFrom(fromWebDataset(path).pipe(toArray())), (error: unknown) => {
        assert.ok(error instanceof MemberTooLargeError);
        assert.deepEqual([error.shard, error.offset, error.member, error.size, error.limit], [path, 0, 'k.bin', 4 * 2 ** 30, 2 ** 30]);
        return true;
      });
    }
    const small = scratch.write('small.tar', await packTar([{ name: 'a.bin', data: new Uint8Array(5000) }]));
    await assert.rejects(lastValueFrom(fromWebDataset(small, { maxMemberSize: 4999 }).pipe(toArray())), MemberTooLargeError);
    assert.equal((await lastValueFrom(fromWebDataset(small, { maxMemberSize: 5000 }).pipe(toArray()))).length, 1);
    for (const maxMemberSize of [-1, 1.5, Number.NaN, 2 ** 32 + 1]) {
      assert.throws(() => fromWebDataset(small, { maxMemberSize }), InvalidArgumentError);
    }
  });
});
