/**
 * Fields named by untrusted input (tar member extensions, feature names, JSON keys): data, never
 * the object's machinery.
 *
 * @module
 * @internal
 */

/**
 * Sets `name` on `target` as an own, enumerable, writable data property, whatever the name:
 * plain assignment of `__proto__` would replace the prototype instead of adding a field.
 * @internal
 */
export function setField<V>(target: Record<string, V>, name: string, value: V): void {
  if (name === '__proto__') Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}

/**
 * `object[name]` when it is the object's own property, else `undefined`: a missing `toString`
 * or `__proto__` never answers with what `Object.prototype` holds.
 * @internal
 */
export function ownField(object: object, name: string): unknown {
  return Object.hasOwn(object, name) ? (object as Record<string, unknown>)[name] : undefined;
}
