/** Images the tests use; scripts/images/build-images.sh builds them (no registry needed). */
export const TEST_IMAGE = process.env.SLIPWAY_TEST_IMAGE ?? 'slipway/busybox:1';
export const DEBIAN_IMAGE = 'slipway/debian:12';
export const NOSHELL_IMAGE = 'slipway/noshell:1';
