import { leafHash } from './hash.js';
import { ProofError, inclusionProof, rootFromLeafHashes } from './merkle.js';
import { verifyTail } from './range.js';

const leaves = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i & 0xff, i >> 8, 7])));

describe('verifyTail', () => {
  test.each([1, 2, 3, 5, 8, 13, 64, 100])('accepts the exact tail of a %i-leaf log from every start', (n) => {
    const all = leaves(n);
    const root = rootFromLeafHashes(all);
    for (let start = 0; start < n; start++) {
      expect(() => verifyTail(start, all.slice(start), n, inclusionProof(all, start), root)).not.toThrow();
    }
  });

  test('refuses a tail with an entry left out, added, changed or moved', () => {
    const n = 37;
    const all = leaves(n);
    const root = rootFromLeafHashes(all);
    for (const start of [0, 5, 16, 30, 36]) {
      const proof = inclusionProof(all, start);
      const tail = all.slice(start);
      const dropped = tail.filter((_, i) => i !== tail.length - 1);
      expect(() => verifyTail(start, dropped, n, proof, root)).toThrow(ProofError);
      expect(() => verifyTail(start, [...tail, leafHash(new Uint8Array([9]))], n, proof, root)).toThrow(ProofError);
      const changed = tail.slice();
      changed[changed.length - 1] = leafHash(new Uint8Array([1, 2, 3, 4]));
      expect(() => verifyTail(start, changed, n, proof, root)).toThrow(ProofError);
      if (tail.length > 1) expect(() => verifyTail(start, [tail[1], tail[0], ...tail.slice(2)], n, proof, root)).toThrow(ProofError);
      // A shorter log's tail passed off as the full one: the end is hidden.
      expect(() => verifyTail(start, tail.slice(0, -1), n - 1, proof, root)).toThrow(ProofError);
    }
  });

  test('refuses a proof of the wrong length or for another start', () => {
    const all = leaves(20);
    const root = rootFromLeafHashes(all);
    const proof = inclusionProof(all, 6);
    expect(() => verifyTail(6, all.slice(6), 20, proof.slice(1), root)).toThrow(ProofError);
    expect(() => verifyTail(6, all.slice(6), 20, [...proof, proof[0]], root)).toThrow(ProofError);
    expect(() => verifyTail(7, all.slice(7), 20, proof, root)).toThrow(ProofError);
  });
});
