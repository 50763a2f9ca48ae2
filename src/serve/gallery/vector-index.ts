// Brute-force cosine search: the gallery's unit vectors in one contiguous [capacity × dim] array,
// scored against a query by a plain dot-product scan. At 100k entries of 128 dims that is 12.8M
// multiply-adds per query (see bench/gallery-search.ts); no approximate index is needed at this size.

export interface Hit {
  id: string;
  score: number;
}

export class VectorIndex {
  private data: Float32Array;
  private readonly ids: string[] = [];
  private readonly slots = new Map<string, number>();

  constructor(readonly dim: number, capacity = 1024) {
    this.data = new Float32Array(dim * capacity);
  }

  get size(): number {
    return this.ids.length;
  }

  vector(id: string): Float32Array | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? undefined : this.data.slice(slot * this.dim, (slot + 1) * this.dim);
  }

  set(id: string, vector: Float32Array): void {
    if (vector.length !== this.dim) throw new Error(`gallery: a ${vector.length}-dim vector in a ${this.dim}-dim index`);
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.ids.length;
      if ((slot + 1) * this.dim > this.data.length) {
        const grown = new Float32Array(this.data.length * 2);
        grown.set(this.data);
        this.data = grown;
      }
      this.ids.push(id);
      this.slots.set(id, slot);
    }
    this.data.set(vector, slot * this.dim);
  }

  /** Removes `id` by moving the last entry into its slot. */
  delete(id: string): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    const last = this.ids.length - 1;
    if (slot !== last) {
      const moved = this.ids[last]!;
      this.data.copyWithin(slot * this.dim, last * this.dim, (last + 1) * this.dim);
      this.ids[slot] = moved;
      this.slots.set(moved, slot);
    }
    this.ids.pop();
    this.slots.delete(id);
    return true;
  }

  /** The k entries with the largest dot product with `query`, best first. */
  search(query: Float32Array, k: number): Hit[] {
    const d = this.dim;
    const n = this.ids.length;
    const data = this.data;
    const top: { slot: number; score: number }[] = [];
    let floor = -Infinity;
    // Four partial sums: independent chains the CPU can overlap (about 2x a single running sum).
    const tail = d - (d % 4);
    for (let s = 0, base = 0; s < n; s++, base += d) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = 0; j < tail; j += 4) {
        s0 += data[base + j]! * query[j]!;
        s1 += data[base + j + 1]! * query[j + 1]!;
        s2 += data[base + j + 2]! * query[j + 2]!;
        s3 += data[base + j + 3]! * query[j + 3]!;
      }
      for (let j = tail; j < d; j++) s0 += data[base + j]! * query[j]!;
      const score = s0 + s1 + s2 + s3;
      if (top.length === k && score <= floor) continue;
      let pos = top.length;
      while (pos > 0 && top[pos - 1]!.score < score) pos--;
      top.splice(pos, 0, { slot: s, score });
      if (top.length > k) top.pop();
      if (top.length === k) floor = top[k - 1]!.score;
    }
    return top.map((t) => ({ id: this.ids[t.slot]!, score: t.score }));
  }
}
