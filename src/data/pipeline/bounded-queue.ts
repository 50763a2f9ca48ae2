// A FIFO with a capacity: producers wait while it is full, consumers while it is empty. It is what
// keeps the prefetch pipeline's memory bounded whatever the data set's size.

export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private closed = false;
  private readonly waitingForSpace: (() => void)[] = [];
  private readonly waitingForItem: (() => void)[] = [];
  /** The most items ever held at once (for tests and diagnostics). */
  highWater = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.items.length;
  }

  /** Resolves once there is room (or the queue is closed). */
  async waitForSpace(): Promise<void> {
    while (!this.closed && this.items.length >= this.capacity) {
      await new Promise<void>((resolve) => this.waitingForSpace.push(resolve));
    }
  }

  /** Waits for room, then adds. Returns false if the queue was closed meanwhile. */
  async push(item: T): Promise<boolean> {
    await this.waitForSpace();
    if (this.closed) return false;
    this.items.push(item);
    this.highWater = Math.max(this.highWater, this.items.length);
    this.waitingForItem.shift()?.();
    return true;
  }

  /** The next item, or undefined once the queue is closed and empty. */
  async shift(): Promise<T | undefined> {
    while (this.items.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => this.waitingForItem.push(resolve));
    }
    const item = this.items.shift()!;
    this.waitingForSpace.shift()?.();
    return item;
  }

  /** No more pushes; consumers drain what is left. */
  close(): void {
    this.closed = true;
    for (const wake of this.waitingForSpace.splice(0)) wake();
    for (const wake of this.waitingForItem.splice(0)) wake();
  }

  /** Closes and returns everything still queued (for cleanup). */
  drain(): T[] {
    this.close();
    return this.items.splice(0);
  }
}
