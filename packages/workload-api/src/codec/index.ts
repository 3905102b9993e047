/**
 * Pure layer placeholder; replaced by the package's codec.
 * @module
 */
export const CODEC_PLACEHOLDER: string = 'codec';
