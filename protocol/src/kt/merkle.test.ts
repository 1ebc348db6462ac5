import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBase64 } from './base64.js';
import { EMPTY_ROOT, leafHash, nodeHash } from './hash.js';
import {
  ProofError,
  consistencyProof,
  inclusionProof,
  rootFromInclusionProof,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';

const VECTORS = fileURLToPath(new URL('../../../tests/vectors/transparency-dev-merkle/testdata/', import.meta.url));

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsonFiles(path);
    return name.endsWith('.json') ? [path] : [];
  });
}

// The vectors were written by Go's encoding/json: byte strings are standard base64, a null proof is
// an empty one, and indices are uint64 (one case is 2^64 − 1, which no JS number holds exactly).
function b64(text: string | null): Uint8Array {
  const out = decodeBase64(text ?? '');
  if (!out) throw new Error(`vector holds invalid base64: ${text}`);
  return out;
}

interface InclusionProbe {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyProbe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

function load<T>(kind: string): [string, T][] {
  const files = jsonFiles(join(VECTORS, kind)).sort();
  return files.map((f) => [relative(VECTORS, f), JSON.parse(readFileSync(f, 'utf8')) as T]);
}

const inclusionCases = load<InclusionProbe>('inclusion');
const consistencyCases = load<ConsistencyProbe>('consistency');

describe('transparency-dev/merkle vectors', () => {
  it('are all present (98 inclusion and 98 consistency cases, both outcomes represented)', () => {
    expect(inclusionCases).toHaveLength(98);
    expect(consistencyCases).toHaveLength(98);
    expect(inclusionCases.filter(([, p]) => !p.wantErr).length).toBeGreaterThan(0);
    expect(consistencyCases.filter(([, p]) => !p.wantErr).length).toBeGreaterThan(0);
  });

  describe.each(inclusionCases)('inclusion %s', (_file, p) => {
    it(`${p.desc}: ${p.wantErr ? 'rejected' : 'accepted'}`, () => {
      const run = () => verifyInclusion(b64(p.leafHash), p.leafIdx, p.treeSize, (p.proof ?? []).map(b64), b64(p.root));
      if (p.wantErr) expect(run).toThrow(ProofError);
      else expect(run).not.toThrow();
    });
  });

  describe.each(consistencyCases)('consistency %s', (_file, p) => {
    it(`${p.desc}: ${p.wantErr ? 'rejected' : 'accepted'}`, () => {
      const run = () => verifyConsistency(p.size1, p.size2, b64(p.root1), b64(p.root2), (p.proof ?? []).map(b64));
      if (p.wantErr) expect(run).toThrow(ProofError);
      else expect(run).not.toThrow();
    });
  });
});

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

// transparency-dev/merkle testonly/constants.go: the RFC 6962 reference tree.
const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const LEVEL0 = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
  '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
  '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
  'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
  '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
  'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
  '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
].map(hex);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
].map(hex);

describe('RFC 6962 reference tree (transparency-dev testonly constants)', () => {
  const leaves = LEAF_INPUTS.map(leafHash);

  it('hashes leaves and the empty tree as published', () => {
    expect(leaves).toEqual(LEVEL0);
    expect(EMPTY_ROOT).toEqual(ROOTS[0]);
  });

  it('computes the published root for every size 0..8', () => {
    for (let n = 0; n <= 8; n++) expect(rootFromLeafHashes(leaves.slice(0, n))).toEqual(ROOTS[n]);
  });

  it('matches the published consistency proof 2 → 5 and the RFC 6962 §2.1.3 example shapes', () => {
    // The same proof as in the vectors under consistency/3/: [5f08…, bc1a…].
    const proof = consistencyProof(leaves, 2, 5);
    expect(proof).toEqual([hex('5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e'), LEVEL0[4]]);
    verifyConsistency(2, 5, ROOTS[2], ROOTS[5], proof);
    // RFC 6962 §2.1.3: PROOF(3, D[7]) = [c, d, g, l]; PROOF(4, D[7]) = [l]; PROOF(6, D[7]) = [i, j, k].
    expect(consistencyProof(leaves, 3, 7)).toHaveLength(4);
    expect(consistencyProof(leaves, 4, 7)).toEqual([rootFromLeafHashes(leaves.slice(4, 7))]);
    expect(consistencyProof(leaves, 6, 7)).toHaveLength(3);
    // RFC 6962 §2.1.3: the audit path for d0 in the 7-leaf tree is [b, h, l].
    expect(inclusionProof(leaves, 0, 7)).toEqual([leaves[1], nodeHash(leaves[2], leaves[3]), rootFromLeafHashes(leaves.slice(4, 7))]);
  });
});

/** A deterministic pseudo-random tree, so a failure names a reproducible case. */
function randomLeaves(n: number, seed: number): Uint8Array[] {
  let x = seed >>> 0;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
  return Array.from({ length: n }, () => leafHash(Uint8Array.from({ length: 1 + (next() % 40) }, next)));
}

function flip(proof: Uint8Array[], i: number, bit: number): Uint8Array[] {
  return proof.map((p, j) => {
    if (j !== i) return p;
    const q = p.slice();
    q[bit >> 3] ^= 1 << (bit & 7);
    return q;
  });
}

/** True if `fn` throws ProofError (anything else is re-thrown). Collecting outcomes and asserting once
 * keeps tens of thousands of negative checks fast. */
function rejects(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    if (e instanceof ProofError) return true;
    throw e;
  }
}

describe('prover ↔ verifier round trips on a random 70-leaf tree (all sizes 1..70)', () => {
  const N = 70;
  const leaves = randomLeaves(N, 0x5eed);
  const roots = Array.from({ length: N + 1 }, (_, n) => rootFromLeafHashes(leaves.slice(0, n)));

  it('every (index, size) inclusion proof verifies; every mutation of it fails', () => {
    const accepted: string[] = [];
    let checked = 0;
    for (let size = 1; size <= N; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(leaves, index, size);
        expect(rootFromInclusionProof(leaves[index], index, size, proof)).toEqual(roots[size]);
        verifyInclusion(leaves[index], index, size, proof, roots[size]);
        checked++;

        const bad: [string, () => void][] = [];
        // Each node with one bit flipped (the bit varies so every byte position gets exercised).
        for (let i = 0; i < proof.length; i++) {
          const bit = (index * 7 + i * 13) % 256;
          bad.push([`node ${i} bit ${bit}`, () => verifyInclusion(leaves[index], index, size, flip(proof, i, bit), roots[size])]);
        }
        const other = leaves[(index + 1) % size];
        if (size > 1) bad.push(['other leaf', () => verifyInclusion(other, index, size, proof, roots[size])]);
        bad.push(['smaller root', () => verifyInclusion(leaves[index], index, size, proof, roots[size - 1])]);
        if (size > 1) bad.push(['other index', () => verifyInclusion(leaves[index], (index + 1) % size, size, proof, roots[size])]);
        if (size < N) bad.push(['larger size', () => verifyInclusion(leaves[index], index, size + 1, proof, roots[size + 1])]);
        if (proof.length > 0) bad.push(['truncated', () => verifyInclusion(leaves[index], index, size, proof.slice(0, -1), roots[size])]);
        bad.push(['extended', () => verifyInclusion(leaves[index], index, size, [...proof, roots[size]], roots[size])]);
        for (const [what, fn] of bad) if (!rejects(fn)) accepted.push(`index ${index} size ${size}: ${what}`);
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
    expect(accepted).toEqual([]);
  });

  it('every (size1, size2) consistency proof verifies; every mutation of it fails', () => {
    const accepted: string[] = [];
    let checked = 0;
    for (let size2 = 1; size2 <= N; size2++) {
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = consistencyProof(leaves, size1, size2);
        verifyConsistency(size1, size2, roots[size1], roots[size2], proof);
        checked++;
        const bad: [string, () => void][] = [];
        if (size1 === size2) {
          expect(proof).toEqual([]);
          bad.push(['non-empty proof', () => verifyConsistency(size1, size2, roots[size1], roots[size2], [roots[size1]])]);
          if (size1 > 1) bad.push(['other root', () => verifyConsistency(size1, size2, roots[size1], roots[size1 - 1], [])]);
        } else {
          for (let i = 0; i < proof.length; i++) {
            const bit = (size1 * 5 + i * 11) % 256;
            bad.push([`node ${i} bit ${bit}`, () => verifyConsistency(size1, size2, roots[size1], roots[size2], flip(proof, i, bit))]);
          }
          bad.push(['other root1', () => verifyConsistency(size1, size2, roots[size1 - 1], roots[size2], proof)]);
          bad.push(['other root2', () => verifyConsistency(size1, size2, roots[size1], roots[size2 - 1], proof)]);
          bad.push(['swapped roots', () => verifyConsistency(size1, size2, roots[size2], roots[size1], proof)]);
          bad.push(['truncated', () => verifyConsistency(size1, size2, roots[size1], roots[size2], proof.slice(0, -1))]);
          bad.push(['extended', () => verifyConsistency(size1, size2, roots[size1], roots[size2], [...proof, roots[size1]])]);
          bad.push(['preceded', () => verifyConsistency(size1, size2, roots[size1], roots[size2], [roots[size1], ...proof])]);
          if (size2 > size1 + 1) bad.push(['smaller size2', () => verifyConsistency(size1, size2 - 1, roots[size1], roots[size2 - 1], proof)]);
          bad.push(['swapped sizes', () => verifyConsistency(size2, size1, roots[size2], roots[size1], proof)]);
        }
        for (const [what, fn] of bad) if (!rejects(fn)) accepted.push(`${size1} → ${size2}: ${what}`);
      }
    }
    expect(checked).toBe((N * (N + 1)) / 2);
    expect(accepted).toEqual([]);
  });
});

describe('input checks', () => {
  const leaves = randomLeaves(5, 7);
  const root = rootFromLeafHashes(leaves);
  const proof = inclusionProof(leaves, 2);

  it('refuses indices and sizes that are not safe non-negative integers', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
      expect(() => verifyInclusion(leaves[2], bad, 5, proof, root)).toThrow(ProofError);
      expect(() => verifyInclusion(leaves[2], 2, bad, proof, root)).toThrow(ProofError);
      expect(() => verifyConsistency(bad, 5, root, root, [])).toThrow(ProofError);
      expect(() => verifyConsistency(2, bad, root, root, [])).toThrow(ProofError);
    }
  });

  it('refuses leaf hashes and proof nodes that are not 32 bytes', () => {
    expect(() => verifyInclusion(leaves[2].slice(0, 31), 2, 5, proof, root)).toThrow(ProofError);
    const longNode = proof.map((p, i) => (i === 0 ? Uint8Array.from([...p, 0]) : p));
    expect(() => verifyInclusion(leaves[2], 2, 5, longNode, root)).toThrow(/not 32 bytes/);
    expect(() => verifyConsistency(2, 5, rootFromLeafHashes(leaves.slice(0, 2)), root, [...consistencyProof(leaves, 2, 5), new Uint8Array(0)])).toThrow(
      /not 32 bytes/,
    );
  });

  it('refuses an index equal to the size before looking at the proof', () => {
    expect(() => verifyInclusion(leaves[2], 5, 5, proof, root)).toThrow(/not below/);
    expect(() => rootFromInclusionProof(leaves[0], 0, 0, [])).toThrow(/not below/);
  });

  it('handles indices beyond 2^32 without 32-bit truncation', () => {
    // A single-leaf "tree" at a huge size needs a proof of the right shape; a wrong count must fail
    // rather than wrap around to a small tree.
    const size = 2 ** 40 + 3;
    expect(() => rootFromInclusionProof(leaves[0], 2 ** 40, size, [])).toThrow(/expected 3/);
    expect(rootFromInclusionProof(leaves[0], 2 ** 40 + 2, size, [leaves[1], leaves[2]])).toEqual(nodeHash(leaves[2], nodeHash(leaves[1], leaves[0])));
  });

  it('provers refuse out-of-range requests', () => {
    expect(() => inclusionProof(leaves, 5)).toThrow(ProofError);
    expect(() => inclusionProof(leaves, 0, 6)).toThrow(ProofError);
    expect(() => consistencyProof(leaves, 0, 5)).toThrow(ProofError);
    expect(() => consistencyProof(leaves, 4, 3)).toThrow(ProofError);
    expect(() => rootFromLeafHashes([new Uint8Array(31)])).toThrow(ProofError);
    expect(rootFromLeafHashes([])).toEqual(EMPTY_ROOT);
  });
});
