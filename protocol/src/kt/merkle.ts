/** RFC 6962 / C2SP merkle-tree proofs: the verifiers follow transparency-dev/merkle's proof package
 * (proof/verify.go) step for step, so they accept and reject exactly what it does on its published
 * vectors; the provers are RFC 6962 §2.1.1–2.1.2 (PATH, PROOF/SUBPROOF) written out directly, for
 * the small in-memory trees of snapshots and tests. Every failure throws ProofError. */
import { bytesEqual } from '../encoding.js';
import { EMPTY_ROOT, nodeHash } from './hash.js';

export class ProofError extends Error {
  override name = 'ProofError';
}

const HASH_SIZE = 32;

// Indices reach 2^53 − 1 and JavaScript's bitwise operators stop at 32 bits, so the index
// arithmetic below runs on BigInt (a proof touches at most ~53 levels, so this costs nothing).
function bitLen(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

function onesCount(x: bigint): number {
  let n = 0;
  for (const c of x.toString(2)) if (c === '1') n++;
  return n;
}

function trailingZeros(x: bigint): number {
  if (x === 0n) return 64;
  let n = 0;
  while (((x >> BigInt(n)) & 1n) === 0n) n++;
  return n;
}

function toIndex(n: number, what: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new ProofError(`${what} is not a non-negative safe integer`);
  return BigInt(n);
}

function checkHashes(proof: readonly Uint8Array[]): void {
  // transparency-dev hashes whatever bytes it is given; no honest proof holds a node that is not a
  // SHA-256 output, so a wrong-length node is refused before any hashing.
  for (const h of proof) if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new ProofError('proof node is not 32 bytes');
}

/** Splits an inclusion proof at the level where the paths to `index` and `size − 1` diverge:
 * `inner` nodes below it (left or right siblings), `border` left siblings above it. */
function decompInclProof(index: bigint, size: bigint): { inner: number; border: number } {
  const inner = bitLen(index ^ (size - 1n));
  const border = onesCount(index >> BigInt(inner));
  return { inner, border };
}

function chainInner(seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Uint8Array {
  let h = seed;
  proof.forEach((p, i) => {
    h = ((index >> BigInt(i)) & 1n) === 0n ? nodeHash(h, p) : nodeHash(p, h);
  });
  return h;
}

/** Like chainInner but only folds in left siblings: the result is the hash of the same subtree as it
 * was in the smaller tree. */
function chainInnerRight(seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Uint8Array {
  let h = seed;
  proof.forEach((p, i) => {
    if (((index >> BigInt(i)) & 1n) === 1n) h = nodeHash(p, h);
  });
  return h;
}

function chainBorderRight(seed: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let h = seed;
  for (const p of proof) h = nodeHash(p, h);
  return h;
}

/** The root a tree of `size` leaves would have if `leafHash` sits at `index` and `proof` is its
 * audit path (lowest level first). Requires 0 ≤ index < size. */
export function rootFromInclusionProof(leafHash: Uint8Array, index: number, size: number, proof: Uint8Array[]): Uint8Array {
  const idx = toIndex(index, 'leaf index');
  const sz = toIndex(size, 'tree size');
  if (idx >= sz) throw new ProofError(`leaf index ${index} is not below tree size ${size}`);
  if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE) throw new ProofError('leaf hash is not 32 bytes');
  const nodes = proof ?? [];
  checkHashes(nodes);
  const { inner, border } = decompInclProof(idx, sz);
  if (nodes.length !== inner + border) throw new ProofError(`inclusion proof has ${nodes.length} nodes, expected ${inner + border}`);
  const h = chainInner(leafHash, nodes.slice(0, inner), idx);
  return chainBorderRight(h, nodes.slice(inner));
}

export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): void {
  const calculated = rootFromInclusionProof(leafHash, index, size, proof);
  if (!(root instanceof Uint8Array) || !bytesEqual(calculated, root)) throw new ProofError('inclusion proof does not lead to the expected root');
}

/** Checks that the tree of size2 with root2 extends the tree of size1 with root1. Requires
 * 0 < size1 ≤ size2: a proof from the empty tree proves nothing and is refused, as in
 * transparency-dev (callers treat "previous size 0" themselves). */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: Uint8Array[]): void {
  const s1 = toIndex(size1, 'size1');
  const s2 = toIndex(size2, 'size2');
  const nodes = proof ?? [];
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) throw new ProofError('roots must be byte arrays');
  if (s2 < s1) throw new ProofError(`size2 ${size2} is smaller than size1 ${size1}`);
  if (s1 === 0n) throw new ProofError('a consistency proof from the empty tree is meaningless');
  if (s1 === s2) {
    if (nodes.length > 0) throw new ProofError('sizes are equal but the proof is not empty');
    if (!bytesEqual(root1, root2)) throw new ProofError('sizes are equal but the roots differ');
    return;
  }
  if (nodes.length === 0) throw new ProofError('empty consistency proof');
  checkHashes(nodes);

  // Now 0 < size1 < size2. The proof is a suffix of the inclusion proof of leaf size1 − 1 in the
  // tree of size2, starting at the level of the largest complete subtree ending at size1.
  const { inner: fork, border } = decompInclProof(s1 - 1n, s2);
  const shift = trailingZeros(s1);
  const inner = fork - shift;
  // That subtree's root opens the proof, unless size1 is a power of two: then it is root1 itself.
  let seed = nodes[0];
  let start = 1;
  if (s1 === 1n << BigInt(shift)) {
    seed = root1;
    start = 0;
  }
  if (nodes.length !== start + inner + border) {
    throw new ProofError(`consistency proof has ${nodes.length} nodes, expected ${start + inner + border}`);
  }
  const rest = nodes.slice(start);
  const mask = (s1 - 1n) >> BigInt(shift);

  const hash1 = chainBorderRight(chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!bytesEqual(hash1, root1)) throw new ProofError('consistency proof does not lead to the first root');
  const hash2 = chainBorderRight(chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!bytesEqual(hash2, root2)) throw new ProofError('consistency proof does not lead to the second root');
}

// ---- provers and tree hashing (RFC 6962 §2.1) --------------------------------------------------

function checkLeaves(leafHashes: readonly Uint8Array[], size: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > leafHashes.length) {
    throw new ProofError(`tree size ${size} is outside 0..${leafHashes.length}`);
  }
  for (let i = 0; i < size; i++) {
    if (!(leafHashes[i] instanceof Uint8Array) || leafHashes[i].length !== HASH_SIZE) throw new ProofError('leaf hash is not 32 bytes');
  }
}

/** The largest power of two strictly below n (n ≥ 2): RFC 6962's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[lo:hi]). Recursion depth is log2 of the range, and ranges are indices, not copies. */
function mth(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[lo];
  const k = splitPoint(n);
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** The Merkle tree hash over already-hashed leaves (leafHash(entry) each); EMPTY_ROOT for none. */
export function rootFromLeafHashes(leaves: Uint8Array[]): Uint8Array {
  checkLeaves(leaves, leaves.length);
  return mth(leaves, 0, leaves.length);
}

/** RFC 6962 PATH(index, D[0:size]), lowest level first. */
export function inclusionProof(leafHashes: Uint8Array[], index: number, size: number = leafHashes.length): Uint8Array[] {
  checkLeaves(leafHashes, size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new ProofError(`leaf index ${index} is not below tree size ${size}`);
  const path = (m: number, lo: number, hi: number): Uint8Array[] => {
    const n = hi - lo;
    if (n === 1) return [];
    const k = splitPoint(n);
    return m < k ? [...path(m, lo, lo + k), mth(leafHashes, lo + k, hi)] : [...path(m - k, lo + k, hi), mth(leafHashes, lo, lo + k)];
  };
  return path(index, 0, size);
}

/** RFC 6962 PROOF(size1, D[0:size2]); empty when the sizes are equal. Requires 0 < size1 ≤ size2. */
export function consistencyProof(leafHashes: Uint8Array[], size1: number, size2: number): Uint8Array[] {
  checkLeaves(leafHashes, size2);
  if (!Number.isSafeInteger(size1) || size1 <= 0 || size1 > size2) throw new ProofError(`size1 ${size1} is outside 1..${size2}`);
  const subproof = (m: number, lo: number, hi: number, complete: boolean): Uint8Array[] => {
    const n = hi - lo;
    if (m === n) return complete ? [] : [mth(leafHashes, lo, hi)];
    const k = splitPoint(n);
    return m <= k
      ? [...subproof(m, lo, lo + k, complete), mth(leafHashes, lo + k, hi)]
      : [...subproof(m - k, lo + k, hi, false), mth(leafHashes, lo, lo + k)];
  };
  return subproof(size1, 0, size2, true);
}
