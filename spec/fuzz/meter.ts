/**
 * The allocation meter of the fuzz worker: the largest single binary allocation a case makes.
 *
 * While a case runs, the global typed-array and ArrayBuffer constructors are replaced by Proxies
 * whose construct trap records the byte length asked for, and `Buffer.alloc` / `allocUnsafe` /
 * `allocUnsafeSlow` are wrapped likewise. Library code names these constructors through the
 * global object at each call, so every `new Uint8Array(size)` of a parser goes through the trap.
 * A request above {@link HARD_CAP} is refused (a RangeError the worker recognises) so that a
 * header claiming 4 GiB is reported as an over-allocation instead of taking the machine's memory.
 *
 * Why not `process.memoryUsage().arrayBuffers`: it moves only when the GC runs and counts buffers
 * that other cases left behind, so its per-case delta is noise; the trap sees each request as it
 * is made. What it does not see: allocations inside native code (zlib's output, sharp, the
 * libjpeg-turbo binding), Buffers made by `Buffer.from`/`concat` (small, bounded by input), and
 * JS strings and arrays. The image target adds the decoded pixel buffer's size by hand.
 */

/** Requests above this are refused, and the case reported as an over-allocation. */
export const HARD_CAP = 512 * 1024 * 1024;

/** The error a refused request throws (recognised by its message prefix and flag). */
export const REFUSED = 'rxfeed-fuzz: allocation refused';

const typedArrays = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

type Global = Record<string, unknown>;

let largest = 0;
let refused = 0;

function record(bytes: number): void {
  if (!(bytes <= HARD_CAP)) {
    refused = Math.max(refused, Number.isFinite(bytes) ? bytes : Number.MAX_SAFE_INTEGER);
    throw new RangeError(`${REFUSED}: ${bytes} bytes`);
  }
  if (bytes > largest) largest = bytes;
}

/** Bytes a typed-array constructor call allocates: a fresh buffer unless it views an existing one. */
function typedArrayBytes(args: unknown[], perElement: number): number {
  const [first] = args;
  if (typeof first === 'number') return first * perElement;
  if (first instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && first instanceof SharedArrayBuffer)) return 0;
  if (typeof first === 'object' && first !== null && 'length' in first) return Number((first as { length: unknown }).length) * perElement;
  return 0;
}

const saved = new Map<string, unknown>();

/** Start metering: patch the constructors and reset the figures. */
export function startMeter(): void {
  largest = 0;
  refused = 0;
  if (saved.size > 0) return;
  const global = globalThis as unknown as Global;
  for (const name of typedArrays) {
    const original = global[name] as { new (...args: unknown[]): unknown; BYTES_PER_ELEMENT: number };
    saved.set(name, original);
    const proxy = new Proxy(original, {
      construct(target, args) {
        record(typedArrayBytes(args, target.BYTES_PER_ELEMENT));
        return Reflect.construct(target, args, target) as object;
      },
    });
    global[name] = proxy;
    pointConstructorAt(original, proxy);
  }
  const arrayBuffer = ArrayBuffer;
  saved.set('ArrayBuffer', arrayBuffer);
  const proxy = new Proxy(arrayBuffer, {
    construct(target, args) {
      record(Number(args[0] ?? 0));
      return Reflect.construct(target, args, target) as object;
    },
  });
  global.ArrayBuffer = proxy;
  pointConstructorAt(arrayBuffer, proxy);
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
    const original = Buffer[name] as (size: number, ...rest: unknown[]) => Buffer;
    saved.set(`Buffer.${name}`, original);
    (Buffer as unknown as Global)[name] = function (this: unknown, size: number, ...rest: unknown[]) {
      record(Number(size));
      return original.call(this, size, ...rest);
    };
  }
}

/**
 * Libraries test a value's class by identity (`value.constructor === Uint8Array`, as sharp does):
 * while the global is the Proxy, instances must answer the Proxy as their constructor too.
 */
function pointConstructorAt(original: { prototype: object }, constructor: unknown): void {
  Object.defineProperty(original.prototype, 'constructor', { value: constructor, writable: true, configurable: true, enumerable: false });
}

/** Stop metering (restore every constructor); the figures of the case that ran. */
export function stopMeter(): { largest: number; refused: number } {
  const global = globalThis as unknown as Global;
  for (const [name, original] of saved) {
    if (name.startsWith('Buffer.')) {
      (Buffer as unknown as Global)[name.slice(7)] = original;
    } else {
      global[name] = original;
      pointConstructorAt(original as { prototype: object }, original);
    }
  }
  saved.clear();
  return { largest, refused };
}

/** Count an allocation made where the trap cannot see it (native decoders' output). */
export function recordAllocation(bytes: number): void {
  if (bytes > largest) largest = bytes;
}
