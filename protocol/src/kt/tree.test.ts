import { describe, expect, it } from '@jest/globals';
import { EMPTY_ROOT, leafHash } from './hash.js';
import { consistencyProof, inclusionProof, rootFromLeafHashes, verifyConsistency, verifyInclusion } from './merkle.js';
import { MerkleLevels } from './tree.js';

const leaves = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(i & 0xff, i >> 8, salt)));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hexes = (bs: Uint8Array[]) => bs.map(hex);

describe('MerkleLevels', () => {
  it('matches the reference tree for every size, index and pair of sizes up to 40', () => {
    const all = leaves(40);
    const t = new MerkleLevels();
    expect(hex(t.root())).toBe(hex(EMPTY_ROOT));
    for (const h of all) t.append(h);
    for (let size = 0; size <= 40; size++) {
      const prefix = all.slice(0, size);
      const root = rootFromLeafHashes(prefix);
      expect(hex(t.root(size))).toBe(hex(root));
      for (let i = 0; i < size; i++) {
        const proof = t.inclusionProof(i, size);
        expect(hexes(proof)).toEqual(hexes(inclusionProof(all, i, size)));
        verifyInclusion(all[i], i, size, proof, root);
      }
      for (let from = 1; from <= size; from++) {
        const proof = t.consistencyProof(from, size);
        expect(hexes(proof)).toEqual(hexes(consistencyProof(all, from, size)));
        verifyConsistency(from, size, rootFromLeafHashes(all.slice(0, from)), root, proof);
      }
    }
  });

  it('answers for older sizes after growing, and for large trees', () => {
    const all = leaves(1500);
    const t = MerkleLevels.fromLeafHashes(all);
    expect(t.size).toBe(1500);
    for (const size of [1, 2, 3, 511, 512, 513, 1024, 1025, 1499, 1500]) {
      const root = rootFromLeafHashes(all.slice(0, size));
      expect(hex(t.root(size))).toBe(hex(root));
      for (const i of [0, Math.floor(size / 2), size - 1]) verifyInclusion(all[i], i, size, t.inclusionProof(i, size), root);
      verifyConsistency(Math.ceil(size / 3), size, rootFromLeafHashes(all.slice(0, Math.ceil(size / 3))), root, t.consistencyProof(Math.ceil(size / 3), size));
    }
    expect(t.inclusionProof(700, 1500)).toHaveLength(11);
  });

  it('replaces leaves, and computes roots with replacements without changing the tree', () => {
    const all = leaves(23);
    const t = MerkleLevels.fromLeafHashes(all);
    const other = leaves(23, 1);
    const changed = [...all];
    for (const i of [0, 7, 8, 22]) changed[i] = other[i];
    const overrides = new Map([0, 7, 8, 22].map((i) => [i, other[i]]));
    expect(hex(t.rootWith(overrides))).toBe(hex(rootFromLeafHashes(changed)));
    expect(hex(t.root())).toBe(hex(rootFromLeafHashes(all)));
    for (const [i, h] of overrides) t.setLeaf(i, h);
    expect(hex(t.root())).toBe(hex(rootFromLeafHashes(changed)));
    for (let i = 0; i < 23; i++) verifyInclusion(changed[i], i, 23, t.inclusionProof(i), t.root());
    expect(hex(t.rootWith(new Map()))).toBe(hex(t.root()));
  });

  it('inserts leaves anywhere, as a tree built from the final order would be; clones are independent', () => {
    const order = leaves(40);
    const t = new MerkleLevels();
    const expected: Uint8Array[] = [];
    // a fixed pseudo-random insertion order covering both ends and the middle
    const positions = order.map((_, i) => (i * 17 + 3) % (i + 1));
    order.forEach((h, i) => {
      expected.splice(positions[i], 0, h);
      t.insertLeaf(positions[i], h);
      expect(hex(t.root())).toBe(hex(rootFromLeafHashes(expected)));
    });
    for (let size = 1; size <= 40; size += 13) {
      for (let i = 0; i < size; i++) verifyInclusion(expected[i], i, size, t.inclusionProof(i, size), rootFromLeafHashes(expected.slice(0, size)));
    }
    const c = t.clone();
    c.insertLeaf(0, leaves(1, 9)[0]);
    c.setLeaf(5, leaves(1, 8)[0]);
    expect(hex(t.root())).toBe(hex(rootFromLeafHashes(expected)));
    expect(c.size).toBe(41);
    expect(hex(c.root())).toBe(hex(rootFromLeafHashes([leaves(1, 9)[0], ...expected.slice(0, 4), leaves(1, 8)[0], ...expected.slice(5)])));
    t.append(leaves(1, 7)[0]);
    expect(c.size).toBe(41);
    expect(() => t.insertLeaf(43, leaves(1)[0])).toThrow(RangeError);
  });

  it('refuses sizes and indexes outside the tree', () => {
    const t = MerkleLevels.fromLeafHashes(leaves(5));
    expect(() => t.root(6)).toThrow(RangeError);
    expect(() => t.inclusionProof(5, 5)).toThrow(RangeError);
    expect(() => t.inclusionProof(0, 6)).toThrow(RangeError);
    expect(() => t.consistencyProof(0, 5)).toThrow(RangeError);
    expect(() => t.consistencyProof(4, 3)).toThrow(RangeError);
    expect(() => t.setLeaf(5, leaves(1)[0])).toThrow(RangeError);
  });
});
