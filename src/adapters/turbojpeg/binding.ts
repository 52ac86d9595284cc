/**
 * Loads the optional libjpeg-turbo binding (`turbojpeg.c`, built by `build.sh` next to this
 * module's compiled file). Absent binding: {@link loadTurboJpeg} returns `undefined` and the
 * decode task uses sharp instead.
 *
 * @module
 * @internal
 */
import { createRequire } from 'node:module';

/** The functions the native binding exports. @internal */
export interface TurboJpegBinding {
  /**
   * Width and height of a JPEG, from its header; both at least 1 (a stream without a frame, or
   * an unreadable header, throws).
   */
  header(bytes: Uint8Array): [width: number, height: number];
  /**
   * Decode to packed RGB at 1/`scale` of the full size (libjpeg's DCT scaling: 1, 2, 4 or 8) into
   * `out`, which must hold exactly `ceil(width / scale) * ceil(height / scale) * 3` bytes: the
   * caller allocates it, so a failed allocation is a catchable error and not a process abort.
   * `fastDct` trades a little accuracy for speed. Throws on any libjpeg error and on a truncated
   * stream.
   */
  decode(bytes: Uint8Array, scale: number, fastDct: boolean, out: Uint8Array): void;
}

/** Where build.sh puts the binding: beside this file, in dist/. */
const BINDING_URL = new URL('./turbojpeg.node', import.meta.url);

let loaded: { binding: TurboJpegBinding | undefined; error: unknown } | undefined;

/**
 * The libjpeg-turbo binding when it was built, loaded once per thread.
 * @returns The binding, or `undefined` when it was not built or cannot load here.
 * @internal
 */
export function loadTurboJpeg(): TurboJpegBinding | undefined {
  if (loaded === undefined) {
    try {
      loaded = { binding: createRequire(import.meta.url)(BINDING_URL.pathname) as TurboJpegBinding, error: undefined };
    } catch (error) {
      loaded = { binding: undefined, error };
    }
  }
  return loaded.binding;
}

/**
 * Why the binding is unavailable (for diagnostics), or `undefined` when it loaded.
 * @internal
 */
export function turboJpegLoadError(): unknown {
  loadTurboJpeg();
  return loaded?.error;
}
