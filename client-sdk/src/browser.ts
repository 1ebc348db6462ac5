/** The SDK's browser entry: the isomorphic core (index.ts) plus the storage and key-source
 * providers a web app opens a profile with (in-memory and IndexedDB stores, passphrase and WebCrypto
 * key sources). Nothing reachable from here imports a Node built-in, `ws` or `commander`, and ts-mls
 * and libsodium load lazily on first use: tests/bundle.test.ts bundles this file for browsers and
 * holds it to that and to the first chunk's size budget. */
export * from './index.js';
export * from './store/index.js';
export * from './keysource/index.js';
export { webLock, type LockManagerLike } from './store/web-lock.js';
export { safetyNumber, loggedSigningKeys, matchesSafetyQr, matchesSafetyDigits, SAFETY_NUMBER_VERSION, type SafetyNumber, type SafetyParty } from './core/safety-number.js';
