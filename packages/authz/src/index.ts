/**
 * Runtime layer placeholder; replaced by the package's runtime.
 * @module
 */
export { CODEC_PLACEHOLDER } from './codec/index.js';
