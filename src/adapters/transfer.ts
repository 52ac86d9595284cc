/**
 * Moving binary payloads between threads without cloning them.
 *
 * `postMessage` clones every `ArrayBuffer` it is not told to transfer: for decoded images that is
 * a second copy of every pixel. So before a task crosses a thread boundary (both ways), its value
 * is walked and every `ArrayBuffer` it owns goes into the transfer list, which moves the memory
 * and detaches it in the sender. Views that do not own their whole buffer are copied first into
 * a fresh array of their own: a Node `Buffer` from the shared 8 KiB pool (what `Buffer.from`,
 * small `readFileSync`s and many drivers return) is silently copied on Node 20 and throws on Node
 * 22 when transferred, and transferring a slice's whole buffer would detach bytes the sender still
 * uses for something else.
 *
 * @module
 */

/** A value ready to post, and the buffers to transfer with it. */
export interface Transferable<T> {
  /** The value, with partial views replaced by copies that own their buffer. */
  readonly value: T;
  /** The buffers to move (deduplicated); they are detached in the sender once posted. */
  readonly transferList: ArrayBuffer[];
}

/** Containers deeper than this are posted as they are (cloned): samples are shallow in practice. */
const MAX_DEPTH = 8;

/**
 * Prepare `value` for a zero-copy post: collect the `ArrayBuffer`s it owns and copy partial views.
 * Only plain objects and arrays are walked; other objects (Map, class instances) are cloned.
 *
 * @param value - A structured-cloneable value.
 * @returns The value to post and its transfer list.
 * @internal
 */
export function prepareTransfer<T>(value: T): Transferable<T> {
  const transferList = new Set<ArrayBuffer>();
  const prepared = walk(value, transferList, 0) as T;
  return { value: prepared, transferList: [...transferList] };
}

function walk(value: unknown, list: Set<ArrayBuffer>, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof ArrayBuffer) {
    list.add(value);
    return value;
  }
  if (ArrayBuffer.isView(value)) return ownedView(value, list);
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = walk(item, list, depth + 1);
      if (next !== item) {
        copy ??= value.slice();
        copy[i] = next;
      }
    }
    return copy ?? value;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const next = walk(item, list, depth + 1);
    if (next !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = next;
    }
  }
  return copy ?? value;
}

function ownedView(view: ArrayBufferView, list: Set<ArrayBuffer>): ArrayBufferView {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer)) return view; // SharedArrayBuffer: shared, never copied
  if (view.byteOffset === 0 && view.byteLength === buffer.byteLength) {
    list.add(buffer);
    return view;
  }
  // A slice, e.g. a Node Buffer from the shared pool: give it a buffer of its own, then move that.
  const copy = copyView(view);
  list.add(copy.buffer as ArrayBuffer);
  return copy;
}

type ViewConstructor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => ArrayBufferView;

function copyView(view: ArrayBufferView): ArrayBufferView {
  const bytes = new Uint8Array(view.byteLength);
  bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (Buffer.isBuffer(view) || view instanceof Uint8Array) return bytes;
  if (view instanceof DataView) return new DataView(bytes.buffer);
  const Constructor = view.constructor as ViewConstructor;
  const elementSize = (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  return new Constructor(bytes.buffer, 0, view.byteLength / elementSize);
}
