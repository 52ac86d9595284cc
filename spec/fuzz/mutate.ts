/**
 * Generators of hostile inputs: byte-level mutations of real seed files, and mutations of JSON
 * documents. Every mutation is a small record fast-check can shrink (fewer mutations, earlier
 * seeds, smaller values), applied to a copy of the seed.
 */
import fc from 'fast-check';
import { labelled } from './harness.js';

/** A named seed file. */
export interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** One byte-level mutation; positions are taken modulo the current length. */
export type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'duplicate'; readonly at: number; readonly length: number; readonly to: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'splice'; readonly at: number; readonly other: number; readonly from: number; readonly length: number };

/** Positions: mostly near the start, where headers are, sometimes anywhere. */
const position = fc.oneof(fc.nat(64), fc.nat(1024), fc.nat(8192), fc.nat());

/** Values that break parsers most: 0x00, 0xff, ASCII digits, 0x80 (base-256 marks), any byte. */
const hostileByte = fc.oneof(fc.constantFrom(0x00, 0xff, 0x80, 0x7f, 0x20), fc.integer({ min: 0x30, max: 0x39 }), fc.nat(255));

/** One mutation over a list of `seeds` (for splices). */
export function mutation(seeds: number): fc.Arbitrary<Mutation> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at: position, value: hostileByte }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ maxLength: 600 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 1024 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('duplicate' as const),
        at: position,
        length: fc.integer({ min: 1, max: 2048 }),
        to: position,
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('splice' as const),
        at: position,
        other: fc.nat(seeds - 1),
        from: position,
        length: fc.integer({ min: 1, max: 4096 }),
      }),
    },
  );
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** `seed` with the mutations applied in order. */
export function applyMutations(seed: Uint8Array, mutations: readonly Mutation[], seeds: readonly Seed[]): Uint8Array {
  let bytes: Uint8Array = seed.slice();
  for (const m of mutations) {
    const at = m.at % (bytes.byteLength + 1);
    switch (m.op) {
      case 'flip':
        if (at < bytes.byteLength) bytes[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (at < bytes.byteLength) bytes[at] = m.value;
        break;
      case 'insert':
        bytes = concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
        break;
      case 'delete':
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + m.length));
        break;
      case 'duplicate': {
        const range = bytes.slice(at, at + m.length);
        const to = m.to % (bytes.byteLength + 1);
        bytes = concat(bytes.subarray(0, to), range, bytes.subarray(to));
        break;
      }
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
      case 'splice': {
        const other = seeds.length === 0 ? bytes : seeds[m.other % seeds.length]!.bytes;
        const from = m.from % (other.byteLength + 1);
        bytes = concat(bytes.subarray(0, at), other.subarray(from, from + m.length));
        break;
      }
    }
  }
  return bytes;
}

function describeMutation(m: Mutation): string {
  switch (m.op) {
    case 'flip':
      return `flip@${m.at}.${m.bit}`;
    case 'set':
      return `set@${m.at}=0x${m.value.toString(16)}`;
    case 'insert':
      return `insert@${m.at}[${m.bytes.byteLength}]`;
    case 'delete':
      return `delete@${m.at}+${m.length}`;
    case 'duplicate':
      return `dup@${m.at}+${m.length}->${m.to}`;
    case 'truncate':
      return `truncate@${m.at}`;
    case 'splice':
      return `splice@${m.at}<-seed${m.other}@${m.from}+${m.length}`;
  }
}

/** Mutated copies of the seeds, as `{ bytes }` labelled with the seed and the mutations. */
export function mutatedBytes(seeds: readonly Seed[], maxMutations = 6): fc.Arbitrary<{ bytes: Uint8Array }> {
  return fc
    .record({ seed: fc.nat(seeds.length - 1), mutations: fc.array(mutation(seeds.length), { minLength: 1, maxLength: maxMutations }) })
    .map(({ seed, mutations }) => {
      const bytes = applyMutations(seeds[seed]!.bytes, mutations, seeds);
      return labelled({ bytes }, `${seeds[seed]!.name} ${mutations.map(describeMutation).join(' ')} (${bytes.byteLength} B)`);
    });
}

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One mutation of a JSON document, at the node with index `at` (pre-order, modulo the node count). */
export type JsonMutation =
  | { readonly op: 'replace'; readonly at: number; readonly value: Json }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'addKey'; readonly at: number; readonly key: string; readonly value: Json }
  | { readonly op: 'hugeArray'; readonly at: number; readonly length: number; readonly item: Json }
  | { readonly op: 'nest'; readonly at: number; readonly depth: number };

/** Values that break readers of JSON: wrong types, huge and odd numbers, long and dotted strings. */
const hostileJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    2 ** 53 + 2,
    2 ** 31,
    '',
    '25',
    '-1',
    '..',
    '../../../../etc/passwd',
    '__proto__',
    'x'.repeat(5000),
  ),
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.constantFrom<Json>([], {}, [null], { __proto__: null } as unknown as Json),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** A JSON mutation. */
export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: hostileJson }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('addKey' as const),
      at: fc.nat(),
      key: fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'name', 'shape', 'dtype', 'feature', 'type'),
        fc.string({ maxLength: 8 }),
      ),
      value: hostileJson,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('hugeArray' as const),
      at: fc.nat(),
      length: fc.oneof(fc.integer({ min: 1000, max: 10_000 }), fc.constant(100_000)),
      item: fc.constantFrom<Json>(1, 0, '1', null),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('nest' as const),
      at: fc.nat(),
      depth: fc.oneof(fc.integer({ min: 10, max: 100 }), fc.constant(1000)),
    }),
  },
);

interface Slot {
  readonly parent: Json[] | { [key: string]: Json } | undefined;
  readonly key: string | number;
  readonly value: Json;
}

function slots(root: Json): Slot[] {
  const out: Slot[] = [];
  const walk = (value: Json, parent: Slot['parent'], key: string | number): void => {
    out.push({ parent, key, value });
    if (Array.isArray(value)) value.forEach((item, index) => walk(item, value, index));
    else if (value !== null && typeof value === 'object') for (const name of Object.keys(value)) walk(value[name]!, value, name);
  };
  walk(root, undefined, '');
  return out;
}

/**
 * The document with the mutations applied, as JSON text. Objects are rebuilt with
 * `Object.defineProperty`, so a `__proto__` key lands in the text as a key (what `JSON.parse`
 * then reads back as an own property named `__proto__`).
 */
export function applyJsonMutations(document: Json, mutations: readonly JsonMutation[]): string {
  let root = structuredClone(document);
  for (const m of mutations) {
    const all = slots(root);
    const slot = all[m.at % all.length]!;
    const set = (value: Json): void => {
      if (slot.parent === undefined) root = value;
      else if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
      else Object.defineProperty(slot.parent, slot.key, { value, enumerable: true, writable: true, configurable: true });
    };
    switch (m.op) {
      case 'replace':
        set(structuredClone(m.value));
        break;
      case 'delete':
        if (slot.parent === undefined) root = null;
        else if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else delete slot.parent[slot.key as string];
        break;
      case 'addKey':
        if (slot.value !== null && typeof slot.value === 'object' && !Array.isArray(slot.value)) {
          Object.defineProperty(slot.value, m.key, {
            value: structuredClone(m.value),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else {
          set({ [m.key]: structuredClone(m.value) } as Json);
        }
        break;
      case 'hugeArray':
        set(new Array<Json>(m.length).fill(m.item));
        break;
      case 'nest': {
        let value: Json = slot.value;
        for (let i = 0; i < m.depth; i++) value = [value];
        set(value);
        break;
      }
    }
  }
  return JSON.stringify(root);
}

/** Short description of JSON mutations, for counterexample labels. */
export function describeJsonMutations(mutations: readonly JsonMutation[]): string {
  return mutations
    .map((m) => {
      switch (m.op) {
        case 'replace':
          return `replace@${m.at}=${JSON.stringify(m.value)?.slice(0, 40)}`;
        case 'delete':
          return `delete@${m.at}`;
        case 'addKey':
          return `add@${m.at}.${m.key}=${JSON.stringify(m.value)?.slice(0, 40)}`;
        case 'hugeArray':
          return `array@${m.at}[${m.length}]`;
        case 'nest':
          return `nest@${m.at}x${m.depth}`;
      }
    })
    .join(' ');
}
