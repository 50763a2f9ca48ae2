// The persistent image gallery. Design: an append-only log of add/remove records (CRC-framed, see
// records.ts) replayed over the last snapshot at start-up, and the uploads as files under images/.
// - Durability: a request is acknowledged only after its record (and the directory entry of its
//   image) is fsynced. Concurrent writes share one fsync (group commit), so adds scale with load.
// - Crashes: a torn last frame fails its CRC or length check and is cut off at open; records are
//   idempotent (re-adding an id overwrites, removing a missing id is a no-op), so a snapshot taken
//   while later records were still queued replays correctly.
// - Compaction: when the log holds more records than the gallery has entries (and at least
//   compactAfter), the live entries are written as a new snapshot (atomically, generation + 1), a new
//   log is started and the old one deleted; a crash in between leaves a snapshot whose log is missing
//   (empty) or a stale log that is deleted at open.
// An embedded database (SQLite) would give the same guarantees but needs a native module dlip does
// not ship; this format is ~300 lines, has no dependency and is tested with kill -9.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { encodeRecord, readRecords } from './records.js';
import type { AddRecord, GalleryRecord } from './records.js';
import { VectorIndex } from './vector-index.js';
import type { Hit } from './vector-index.js';

const SNAPSHOT = 'snapshot.bin';
const MAGIC = Buffer.from('DLIPGAL1');
const logName = (generation: number) => `log-${generation}.bin`;

export interface GalleryEntry {
  id: string;
  meta: Record<string, unknown>;
  added: number;
  version: string;
  file: string;
  /** The embedding while it belongs to another model version than the index (awaiting re-embedding). */
  stale?: Float32Array;
}

export interface OpenReport {
  entries: number;
  /** Bytes cut off the end of the log: a write torn by a crash. */
  tornBytes: number;
  /** Uploads with no record (an add that crashed before its record was written), deleted. */
  orphanImages: number;
}

export interface GalleryOptions {
  /** The log is compacted once it holds this many records and more than there are entries. Default 10000. */
  compactAfter?: number;
}

export type AddOutcome = 'added' | 'stale';

interface Pending {
  frame: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Gallery {
  private readonly entries = new Map<string, GalleryEntry>();
  private index: VectorIndex | undefined;
  /** The model version the index's vectors come from; undefined until adopt(). */
  private indexVersion: string | undefined;
  private log!: FileHandle;
  private generation = 0;
  private logRecords = 0;
  private pending: Pending[] = [];
  private flushScheduled = false;
  /** Log writes, snapshots and closing run one after another on this chain. */
  private chain: Promise<void> = Promise.resolve();
  private switching: Promise<void> | undefined;
  private failed: Error | undefined;
  private readonly compactAfter: number;
  openReport!: OpenReport;

  private constructor(
    readonly dir: string,
    options: GalleryOptions,
  ) {
    this.compactAfter = options.compactAfter ?? 10000;
  }

  static async open(dir: string, options: GalleryOptions = {}): Promise<Gallery> {
    const g = new Gallery(dir, options);
    await mkdir(join(dir, 'images'), { recursive: true });
    g.openReport = await g.load();
    return g;
  }

  get size(): number {
    return this.entries.size;
  }

  get version(): string | undefined {
    return this.indexVersion;
  }

  private imagePath(file: string): string {
    return join(this.dir, 'images', file);
  }

  private apply(record: GalleryRecord): void {
    if (record.op === 'add') {
      const { vector, op: _op, ...entry } = record;
      this.entries.delete(record.id); // re-adding moves it to the end of the listing order
      this.entries.set(record.id, { ...entry, stale: vector });
    } else if (record.op === 'remove') {
      this.entries.delete(record.id);
    }
  }

  private async load(): Promise<OpenReport> {
    const snapshotPath = join(this.dir, SNAPSHOT);
    if (existsSync(snapshotPath)) {
      const data = await readFile(snapshotPath);
      const { records, validBytes } = readRecords(data.subarray(MAGIC.length));
      const header = records[0];
      if (!data.subarray(0, MAGIC.length).equals(MAGIC) || validBytes !== data.length - MAGIC.length || header?.op !== 'snapshot') {
        throw new Error(`${snapshotPath}: corrupt gallery snapshot (snapshots are written atomically, so the disk or another program damaged it); restore it from a backup or move the folder away`);
      }
      this.generation = header.generation;
      for (const r of records.slice(1)) this.apply(r);
    }
    const logPath = join(this.dir, logName(this.generation));
    let tornBytes = 0;
    if (existsSync(logPath)) {
      const data = await readFile(logPath);
      const { records, validBytes } = readRecords(data);
      for (const r of records) this.apply(r);
      this.logRecords = records.length;
      tornBytes = data.length - validBytes;
      if (tornBytes > 0) await truncate(logPath, validBytes);
    }
    for (const name of await readdir(this.dir)) {
      if (/^log-\d+\.bin$/.test(name) && name !== logName(this.generation)) await rm(join(this.dir, name));
      if (name.endsWith('.tmp')) await rm(join(this.dir, name));
    }
    const referenced = new Set([...this.entries.values()].map((e) => e.file));
    let orphanImages = 0;
    for (const name of await readdir(join(this.dir, 'images'))) {
      if (!referenced.has(name)) {
        await rm(this.imagePath(name));
        orphanImages++;
      }
    }
    this.log = await open(logPath, 'a');
    return { entries: this.entries.size, tornBytes, orphanImages };
  }

  /** Ids whose embedding is not from `version`. */
  staleIds(version: string): string[] {
    return [...this.entries.values()].filter((e) => e.version !== version).map((e) => e.id);
  }

  /**
   * Moves the index to `version`: re-embeds every entry from another version through `embed` (in
   * chunks; adds that arrive meanwhile are caught up), then, with writes held, embeds the last ones,
   * calls `commit` (the model switch) and rebuilds the index, all in one step; then compacts, so the
   * new embeddings are on disk. If embedding fails, nothing changes and the error is thrown.
   */
  async adopt(version: string, dim: number, embed: (images: Buffer[]) => Promise<Float32Array[]>, commit: () => void = () => {}): Promise<void> {
    const fresh = new Map<string, Float32Array>();
    const embedIds = async (ids: string[]) => {
      for (let i = 0; i < ids.length; i += 32) {
        const chunk = ids.slice(i, i + 32).filter((id) => this.entries.has(id));
        const images = await Promise.all(chunk.map((id) => readFile(this.imagePath(this.entries.get(id)!.file))));
        const vectors = await embed(images);
        chunk.forEach((id, j) => fresh.set(id, vectors[j]!));
      }
    };
    const todo = () => this.staleIds(version).filter((id) => !fresh.has(id));
    for (let pass = 0; pass < 3 && todo().length > 32; pass++) await embedIds(todo());
    let release!: () => void;
    while (this.switching) await this.switching;
    this.switching = new Promise((r) => (release = r));
    try {
      await embedIds(todo());
      commit();
      const index = new VectorIndex(dim, Math.max(1024, this.entries.size));
      for (const e of this.entries.values()) {
        const vector = fresh.get(e.id) ?? (e.version === version ? (e.stale ?? this.index?.vector(e.id)) : undefined);
        if (!vector) throw new Error(`gallery: entry ${e.id} has no ${version} embedding`);
        index.set(e.id, vector);
        e.version = version;
        delete e.stale;
      }
      this.index = index;
      this.indexVersion = version;
    } finally {
      this.switching = undefined;
      release();
    }
    if (fresh.size > 0) await this.compact();
  }

  /**
   * Stores an upload and its embedding durably (resolves after fsync). 'stale' when the embedding's
   * model version is not the index's any more (a swap happened meanwhile): embed again and retry.
   */
  async add(id: string, vector: Float32Array, version: string, meta: Record<string, unknown>, image: Uint8Array): Promise<AddOutcome> {
    const file = `${randomUUID()}`;
    await writeFileAtomic(this.imagePath(file), image);
    while (this.switching) await this.switching;
    // From here to the append nothing awaits: the checks and the in-memory change are one step.
    const drop = () => rm(this.imagePath(file), { force: true });
    if (version !== this.indexVersion) {
      await drop();
      return 'stale';
    }
    if (this.entries.has(id)) {
      await drop();
      throw new GalleryConflict(id);
    }
    const record: AddRecord = { op: 'add', id, version, file, meta, added: Date.now(), vector };
    this.apply(record);
    delete this.entries.get(id)!.stale;
    this.index!.set(id, vector);
    await this.append(record);
    return 'added';
  }

  /** Removes `id` durably; false when there is no such entry. */
  async remove(id: string): Promise<boolean> {
    while (this.switching) await this.switching;
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    this.index?.delete(id);
    await this.append({ op: 'remove', id });
    await rm(this.imagePath(entry.file), { force: true });
    return true;
  }

  get(id: string): GalleryEntry | undefined {
    return this.entries.get(id);
  }

  list(offset: number, limit: number): GalleryEntry[] {
    const out: GalleryEntry[] = [];
    let i = 0;
    for (const e of this.entries.values()) {
      if (i++ < offset) continue;
      if (out.length === limit) break;
      out.push(e);
    }
    return out;
  }

  async image(id: string): Promise<Buffer> {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`gallery: no entry ${id}`);
    return readFile(this.imagePath(entry.file));
  }

  /** Best k entries by cosine with a unit query vector of the index's model version. */
  search(query: Float32Array, k: number): Hit[] {
    if (!this.index) return [];
    return this.index.search(query, k);
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private append(record: GalleryRecord): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending.push({ frame: encodeRecord(record), resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        void this.serial(() => this.flush());
      }
    });
  }

  /** Writes every record queued so far with one write and one fsync (group commit). */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      if (this.failed) throw this.failed;
      await this.syncImages();
      await this.log.write(Buffer.concat(batch.map((p) => p.frame)));
      await this.log.datasync();
    } catch (err) {
      // A failed write or fsync leaves the log's state unknown: refuse further writes.
      this.failed ??= new Error(`gallery: writing ${join(this.dir, logName(this.generation))} failed (${(err as Error).message}); restart the server`);
      for (const p of batch) p.reject(this.failed);
      return;
    }
    this.logRecords += batch.length;
    for (const p of batch) p.resolve();
    if (this.logRecords >= this.compactAfter && this.logRecords > this.entries.size) await this.writeSnapshot();
  }

  /** fsync of images/: the renames of new uploads are durable before their records are. */
  private async syncImages(): Promise<void> {
    const dirHandle = await open(join(this.dir, 'images'), 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  /** Compacts now (after the writes queued before). */
  compact(): Promise<void> {
    return this.serial(() => this.writeSnapshot());
  }

  private async writeSnapshot(): Promise<void> {
    const next = this.generation + 1;
    const frames: Buffer[] = [MAGIC, encodeRecord({ op: 'snapshot', generation: next })];
    for (const e of this.entries.values()) {
      const vector = e.stale ?? this.index?.vector(e.id);
      if (!vector) continue;
      frames.push(encodeRecord({ op: 'add', id: e.id, version: e.version, file: e.file, meta: e.meta, added: e.added, vector }));
    }
    await this.syncImages();
    await writeFileAtomic(join(this.dir, SNAPSHOT), Buffer.concat(frames));
    const old = this.log;
    const oldPath = join(this.dir, logName(this.generation));
    this.log = await open(join(this.dir, logName(next)), 'a');
    this.generation = next;
    this.logRecords = 0;
    await old.close();
    await rm(oldPath, { force: true });
  }

  /** Closes the log after the writes queued before. */
  close(): Promise<void> {
    return this.serial(() => this.log.close());
  }
}

export class GalleryConflict extends Error {
  constructor(readonly id: string) {
    super(`the gallery already has an entry "${id}"; remove it first or choose another id`);
  }
}
