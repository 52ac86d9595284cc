/**
 * Limits on untrusted input that more than one source kind applies.
 *
 * @module
 */

/**
 * The most pixels an image header may claim before rxfeed's decoders refuse it (worker decode tasks'
 * `maxPixels` default, and TFDS `decodeImages`): 89,478,485 (about 9459 x 9459), Pillow's
 * `Image.MAX_IMAGE_PIXELS`, so a dataset that opens in PIL opens here. Its RGB output is 256 MiB.
 * @public
 */
export const DEFAULT_MAX_PIXELS = 89_478_485;
