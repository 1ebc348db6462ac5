/** RFC 6962 / C2SP merkle-tree hashing, the one definition shared by the relay (which builds the
 * key-transparency log) and every verifier (clients, witnesses, the audit). */
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { concatBytes } from '../encoding.js';

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

export function leafHash(entry: Uint8Array): Uint8Array {
  return crypto().sha256(concatBytes(LEAF_PREFIX, entry));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return crypto().sha256(concatBytes(NODE_PREFIX, left, right));
}

/** The root of an empty tree: SHA-256 of the empty string (a constant, so that importing this module
 * needs no crypto library; merkle.test.ts checks it against RFC 6962's published value). */
export const EMPTY_ROOT: Uint8Array = Uint8Array.from([
  0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
  0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);
