/** An ordered in-memory table of raw records, shared by the memory backend and the Node file
 * backend (which replays its journal into one). Positions within a partition are kept in a sorted
 * array: messages arrive mostly in log order, so an insert is usually an append. */
import type { RangeEntry, RawOp, RawRange } from './types.js';

class Partition {
  readonly order: number[] = [];
  readonly values = new Map<number, Uint8Array>();

  /** First position in `order` whose index is >= `index`. */
  private lowerBound(index: number): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order[mid] < index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  put(index: number, value: Uint8Array): void {
    if (!this.values.has(index)) {
      const last = this.order[this.order.length - 1];
      if (last === undefined || index > last) this.order.push(index);
      else this.order.splice(this.lowerBound(index), 0, index);
    }
    this.values.set(index, value);
  }

  delete(index: number): void {
    if (!this.values.delete(index)) return;
    this.order.splice(this.lowerBound(index), 1);
  }

  range({ lo, hi, reverse, limit }: RawRange): RangeEntry[] {
    const out: RangeEntry[] = [];
    if (!reverse) {
      for (let i = this.lowerBound(lo); i < this.order.length && this.order[i] <= hi && out.length < limit; i++) {
        out.push({ index: this.order[i], value: this.values.get(this.order[i])! });
      }
    } else {
      for (let i = this.lowerBound(hi + 1) - 1; i >= 0 && this.order[i] >= lo && out.length < limit; i--) {
        out.push({ index: this.order[i], value: this.values.get(this.order[i])! });
      }
    }
    return out;
  }
}

export interface RawRecord {
  store: string;
  tag: string;
  index: number;
  value: Uint8Array;
}

export class RecordTable {
  private readonly parts = new Map<string, Partition>();
  /** Sum of value bytes held: the file backend compares it with its journal size. */
  liveBytes = 0;

  get(store: string, tag: string, index: number): Uint8Array | undefined {
    return this.parts.get(`${store}\u0000${tag}`)?.values.get(index);
  }

  range(store: string, tag: string, range: RawRange): RangeEntry[] {
    return this.parts.get(`${store}\u0000${tag}`)?.range(range) ?? [];
  }

  apply(ops: readonly RawOp[]): void {
    for (const op of ops) {
      const id = `${op.store}\u0000${op.tag}`;
      let part = this.parts.get(id);
      const old = part?.values.get(op.index);
      if (old) this.liveBytes -= old.length;
      if (op.kind === 'put') {
        if (!part) this.parts.set(id, (part = new Partition()));
        part.put(op.index, op.value);
        this.liveBytes += op.value.length;
      } else if (part) {
        part.delete(op.index);
        if (part.order.length === 0) this.parts.delete(id);
      }
    }
  }

  *records(): Generator<RawRecord> {
    for (const [id, part] of this.parts) {
      const [store, tag] = id.split('\u0000');
      for (const index of part.order) yield { store, tag, index, value: part.values.get(index)! };
    }
  }
}
