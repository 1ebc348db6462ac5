/** The wire contract between relay and SDK: schemas, limits, error codes, signed-message formats
 * and byte encodings. Everything here is isomorphic and free of I/O. */
export * from './api.js';
export * from './names.js';
export * from './limits.js';
export * from './errors.js';
export * from './encoding.js';
export * from './signing.js';
export * from './crypto/random.js';
