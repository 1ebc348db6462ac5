/** Proves that a run of entries is exactly the tail of a verified log: every entry from `start` up
 * to the checkpoint's size, none left out, none added. A device that learns revocations and
 * organisation-key generations from the log needs this: inclusion proofs show that an entry is in
 * the log, not that the relay served all of them.
 *
 * The proof is the RFC 6962 inclusion path of leaf `start`. Its left siblings are the subtrees
 * covering everything before `start`; every right sibling is recomputed here from the served
 * entries instead of being taken from the proof. The root that comes out matches the checkpoint only
 * if the served entries are the log's leaves start … size−1, in order. Pure. */
import { bytesEqual } from '../encoding.js';
import { nodeHash } from './hash.js';
import { ProofError, rootFromLeafHashes } from './merkle.js';

/** Largest power of two strictly below n (n ≥ 2): RFC 6962's split point. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The root of a tree of `size` leaves whose leaves from `start` on are `tail` (leaf hashes),
 * with `proof` the inclusion path of leaf `start` (lowest level first). */
export function rootFromTail(start: number, tail: readonly Uint8Array[], size: number, proof: readonly Uint8Array[]): Uint8Array {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || start >= size) {
    throw new ProofError(`range start ${start} is not below tree size ${size}`);
  }
  if (tail.length !== size - start) throw new ProofError(`expected ${size - start} entries from ${start}, got ${tail.length}`);
  let depth = 0;
  const fromTail = (lo: number, hi: number): Uint8Array => rootFromLeafHashes(tail.slice(lo - start, hi - start));
  // Top-down along the path to leaf `start`; the proof lists the same siblings bottom-up.
  const walk = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return tail[0];
    const level = depth++;
    const k = split(hi - lo);
    const sibling = (): Uint8Array => {
      const node = proof[proof.length - 1 - level];
      if (!node || node.length !== 32) throw new ProofError('the inclusion path is too short');
      return node;
    };
    if (start < lo + k) {
      const left = walk(lo, lo + k);
      sibling(); // the proof's right sibling is not trusted: it is recomputed from the entries
      return nodeHash(left, fromTail(lo + k, hi));
    }
    const left = sibling();
    return nodeHash(left, walk(lo + k, hi));
  };
  const root = walk(0, size);
  if (depth !== proof.length) throw new ProofError('the inclusion path has the wrong length');
  return root;
}

/** Throws ProofError unless `tail` (leaf hashes of entries start … size−1) completes the log whose
 * root is `root`. */
export function verifyTail(start: number, tail: readonly Uint8Array[], size: number, proof: readonly Uint8Array[], root: Uint8Array): void {
  if (!bytesEqual(rootFromTail(start, tail, size, proof), root)) {
    throw new ProofError('the entries served are not the log\'s entries from that position on');
  }
}
