/**
 * The adapters over drivers: worker threads (piscina) and TensorFlow.js. Each is published under
 * its own subpath so that `import 'rxfeed'` loads neither: `rxfeed/workers` (./piscina.ts) and
 * `rxfeed/tfjs` (./tfjs.ts). This barrel lists their public API in one place, for documentation
 * and for code inside the repository; packages should import the subpaths.
 *
 * @module
 */
export * from './piscina.js';
export * from './tfjs.js';
