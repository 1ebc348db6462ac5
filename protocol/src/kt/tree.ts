/** An RFC 6962 Merkle tree kept as levels of complete-subtree hashes: level k holds the hash of
 * every complete, aligned subtree of 2^k leaves. Appending a leaf touches O(1) nodes amortised
 * (O(log n) at worst), replacing one recomputes its O(log n) ancestors, and the root or any proof
 * for a size up to the current one needs O(log n) nodes of which O(log² n) hashes at most are
 * computed. Hashes live in growable flat buffers (32 bytes per node, about 64 bytes per leaf in
 * all), not one object per node, so a tree of millions of entries stays small. The relay keeps its
 * log and its snapshot tree in one; the audit recomputes snapshots with one. */
import { EMPTY_ROOT, leafHash, nodeHash } from './hash.js';

const H = 32;

class Level {
  buf = new Uint8Array(H * 16);
  count = 0;

  get(i: number): Uint8Array {
    return this.buf.subarray(i * H, i * H + H);
  }

  set(i: number, hash: Uint8Array): void {
    if (hash.length !== H) throw new RangeError('a tree hash is 32 bytes');
    this.buf.set(hash, i * H);
  }

  reserve(count: number): void {
    if (count * H <= this.buf.length) return;
    let length = this.buf.length;
    while (length < count * H) length *= 2;
    const bigger = new Uint8Array(length);
    bigger.set(this.buf.subarray(0, this.count * H));
    this.buf = bigger;
  }

  push(hash: Uint8Array): void {
    this.reserve(this.count + 1);
    this.set(this.count, hash);
    this.count++;
  }

  copy(): Level {
    const c = new Level();
    c.buf = this.buf.slice(0, Math.max(this.count, 16) * H);
    c.count = this.count;
    return c;
  }
}

/** The largest power of two strictly below n (n ≥ 2): RFC 6962's split point. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPow2 = (n: number) => n >= 1 && 2 ** Math.round(Math.log2(n)) === n;

export class MerkleLevels {
  private levels: Level[] = [new Level()];

  get size(): number {
    return this.levels[0].count;
  }

  /** Leaf hashes (leafHash(entry)) in order. */
  static fromLeafHashes(hashes: Iterable<Uint8Array>): MerkleLevels {
    const t = new MerkleLevels();
    for (const h of hashes) t.append(h);
    return t;
  }

  appendEntry(entry: Uint8Array): void {
    this.append(leafHash(entry));
  }

  append(leaf: Uint8Array): void {
    this.levels[0].push(leaf);
    let k = 0;
    let count = this.levels[0].count;
    // each completed pair of level k makes one node of level k + 1
    while (count % 2 === 0) {
      const level = this.levels[k];
      const parent = (this.levels[k + 1] ??= new Level());
      parent.push(nodeHash(level.get(count - 2), level.get(count - 1)));
      k++;
      count = parent.count;
    }
  }

  /** An independent copy (one memory copy of the levels). */
  clone(): MerkleLevels {
    const t = new MerkleLevels();
    t.levels = this.levels.map((l) => l.copy());
    return t;
  }

  /** Inserts a leaf before position i (i = size appends), shifting the later leaves; recomputes
   * only the nodes at or right of the insertion point: those to its left cover the same leaves. */
  insertLeaf(i: number, leaf: Uint8Array): void {
    if (!Number.isSafeInteger(i) || i < 0 || i > this.size) throw new RangeError(`position ${i} is outside 0..${this.size}`);
    const base = this.levels[0];
    base.reserve(base.count + 1);
    base.buf.copyWithin((i + 1) * H, i * H, base.count * H);
    base.set(i, leaf);
    base.count++;
    let from = i;
    for (let k = 1; ; k++) {
      const below = this.levels[k - 1];
      const count = Math.floor(below.count / 2);
      if (count === 0) break;
      const level = (this.levels[k] ??= new Level());
      level.reserve(count);
      from = Math.floor(from / 2);
      for (let j = from; j < count; j++) level.set(j, nodeHash(below.get(2 * j), below.get(2 * j + 1)));
      level.count = count;
    }
  }

  leaf(i: number): Uint8Array {
    this.checkIndex(i, this.size);
    return this.levels[0].get(i).slice();
  }

  /** Replaces leaf i and recomputes its complete ancestors. */
  setLeaf(i: number, leaf: Uint8Array): void {
    this.checkIndex(i, this.size);
    this.levels[0].set(i, leaf);
    for (let k = 1; k < this.levels.length; k++) {
      const j = Math.floor(i / 2 ** k);
      const level = this.levels[k];
      if (j >= level.count) break;
      const below = this.levels[k - 1];
      level.set(j, nodeHash(below.get(2 * j), below.get(2 * j + 1)));
    }
  }

  /** MTH(D[0:size]) for any size up to the current one. */
  root(size: number = this.size): Uint8Array {
    this.checkSize(size);
    return size === 0 ? EMPTY_ROOT : this.range(0, size);
  }

  /** The root as it would be with some leaves replaced, without changing the tree. */
  rootWith(overrides: ReadonlyMap<number, Uint8Array>): Uint8Array {
    if (overrides.size === 0) return this.root();
    const positions = [...overrides.keys()].sort((a, b) => a - b);
    for (const p of positions) this.checkIndex(p, this.size);
    const touched = (lo: number, hi: number) => {
      let a = 0;
      let b = positions.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if (positions[m] < lo) a = m + 1;
        else b = m;
      }
      return a < positions.length && positions[a] < hi;
    };
    const hash = (start: number, n: number): Uint8Array => {
      if (!touched(start, start + n)) return this.range(start, n);
      if (n === 1) return overrides.get(start)!;
      const k = splitPoint(n);
      return nodeHash(hash(start, k), hash(start + k, n - k));
    };
    return hash(0, this.size);
  }

  /** RFC 6962 PATH(index, D[0:size]), lowest level first. */
  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    this.checkSize(size);
    this.checkIndex(index, size);
    const out: Uint8Array[] = [];
    const path = (m: number, start: number, n: number): void => {
      if (n === 1) return;
      const k = splitPoint(n);
      if (m < k) {
        path(m, start, k);
        out.push(this.range(start + k, n - k));
      } else {
        path(m - k, start + k, n - k);
        out.push(this.range(start, k));
      }
    };
    path(index, 0, size);
    return out;
  }

  /** RFC 6962 PROOF(from, D[0:to]); empty when from = to. Needs 1 ≤ from ≤ to ≤ size. */
  consistencyProof(from: number, to: number): Uint8Array[] {
    this.checkSize(to);
    if (!Number.isSafeInteger(from) || from < 1 || from > to) throw new RangeError(`size ${from} is outside 1..${to}`);
    const out: Uint8Array[] = [];
    const sub = (m: number, start: number, n: number, complete: boolean): void => {
      if (m === n) {
        if (!complete) out.push(this.range(start, n));
        return;
      }
      const k = splitPoint(n);
      if (m <= k) {
        sub(m, start, k, complete);
        out.push(this.range(start + k, n - k));
      } else {
        sub(m - k, start + k, n - k, false);
        out.push(this.range(start, k));
      }
    };
    sub(from, 0, to, true);
    return out;
  }

  /** MTH(D[start:start+n]) for a range RFC 6962's recursion produces (start aligned to the largest
   * power of two not above n); complete aligned subtrees come straight from the levels. */
  private range(start: number, n: number): Uint8Array {
    if (isPow2(n) && start % n === 0) {
      // A copy: a view into the level buffer would change under a caller when the tree grows.
      return this.levels[Math.round(Math.log2(n))].get(start / n).slice();
    }
    const k = splitPoint(n);
    return nodeHash(this.range(start, k), this.range(start + k, n - k));
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new RangeError(`size ${size} is outside 0..${this.size}`);
  }

  private checkIndex(i: number, size: number): void {
    if (!Number.isSafeInteger(i) || i < 0 || i >= size) throw new RangeError(`index ${i} is outside 0..${size - 1}`);
  }
}
