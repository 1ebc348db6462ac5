/** RFC 6962 / C2SP merkle-tree hashing, the one definition shared by the relay (which builds the
 * key-transparency log) and every verifier (clients, witnesses, the audit). */
import { sha256 } from '@noble/hashes/sha2.js';

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

export function leafHash(entry: Uint8Array): Uint8Array {
  const h = sha256.create();
  h.update(LEAF_PREFIX);
  h.update(entry);
  return h.digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const h = sha256.create();
  h.update(NODE_PREFIX);
  h.update(left);
  h.update(right);
  return h.digest();
}

/** The root of an empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));
