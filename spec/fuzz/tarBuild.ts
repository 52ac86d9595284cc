/**
 * A small tar writer for hostile shards: any size field (octal, GNU base-256, pax `size`), any
 * name, any type flag, with a correct header checksum so the reader gets past it to the field
 * under test.
 */

/** How a member's size is written. */
export type SizeField =
  | { readonly kind: 'octal'; readonly value: number }
  | { readonly kind: 'base256'; readonly value: bigint }
  | { readonly kind: 'pax'; readonly value: string };

/** One member to write. */
export interface TarMemberSpec {
  readonly name: string;
  readonly data: Uint8Array;
  /** Type flag byte; '0' (a regular file) by default. */
  readonly typeflag?: number;
  /** The size to claim; the data's length in octal by default. */
  readonly size?: SizeField;
}

const latin1 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'utf8'));

/** One 512-byte header block. */
export function tarHeader(name: string, size: SizeField, typeflag = 0x30): Uint8Array {
  const block = new Uint8Array(512);
  block.set(latin1(name).subarray(0, 100), 0);
  block.set(latin1('0000644\0'), 100);
  block.set(latin1('0000000\0'), 108);
  block.set(latin1('0000000\0'), 116);
  if (size.kind === 'base256') {
    let value = size.value;
    for (let index = 135; index > 124; index--) {
      block[index] = Number(value & 0xffn);
      value >>= 8n;
    }
    block[124] = 0x80 | Number(value & 0x3fn);
  } else {
    const octal = size.kind === 'octal' ? size.value : 0;
    block.set(latin1(`${octal.toString(8).padStart(11, '0').slice(-11)}\0`), 124);
  }
  block.set(latin1('00000000000\0'), 136);
  block[156] = typeflag;
  block.set(latin1('ustar\x0000'), 257);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.set(latin1(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return block;
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.byteLength / 512) * 512);
  out.set(data);
  return out;
}

/** A pax record `"<length> <key>=<value>\n"`, its length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (`${length}${body}`.length !== length) length++;
  return `${length}${body}`;
}

/** The members' blocks, then the two zero blocks that end an archive (unless `end` is false). */
export function buildTar(members: readonly TarMemberSpec[], end = true): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const member of members) {
    let size = member.size ?? { kind: 'octal', value: member.data.byteLength };
    if (size.kind === 'pax') {
      const pax = latin1(paxRecord('size', size.value));
      parts.push(tarHeader('PaxHeaders/x', { kind: 'octal', value: pax.byteLength }, 0x78), padded(pax));
      size = { kind: 'octal', value: member.data.byteLength };
    }
    parts.push(tarHeader(member.name, size, member.typeflag ?? 0x30), padded(member.data));
  }
  if (end) parts.push(new Uint8Array(1024));
  return Uint8Array.from(Buffer.concat(parts));
}
