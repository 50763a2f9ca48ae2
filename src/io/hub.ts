// Models by Hugging Face name (owner/name[@revision]), fetched into the cache layout Python's
// huggingface_hub uses, so each side reuses the other's downloads:
//   $HF_HUB_CACHE/models--owner--name/blobs/<etag>              file contents, named by ETag
//                                     snapshots/<commit>/<file> symlink to its blob
//                                     refs/<revision>           the commit a branch or tag was at
//                                     .no_exist/<commit>/<file> the repo has no such file
// @huggingface/hub supplies the cache location (HF_HUB_CACHE, HF_HOME, ...) and the folder naming.
// Its downloadFileToCacheDir is not used: it files a branch's files under each file's last commit
// rather than the branch's commit, writes no refs/ (so nothing resolves offline), restarts partial
// downloads from zero, checks neither size nor hash and shows no progress. The transfer below follows
// huggingface_hub's hf_hub_download instead: HEAD on /resolve/, GET with Range into
// blobs/<etag>.incomplete, verify, rename. Files the cache holds for the revision's cached commit are
// used without asking the hub (a branch is not re-checked), so loads are repeatable and work offline.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { getHFHubCachePath, getRepoFolderName, HUB_URL } from '@huggingface/hub';
import cliProgress from 'cli-progress';
import { readPackageVersion } from '../version.js';
import { writeFileAtomic } from './atomic.js';

export interface HubName {
  /** owner/name */
  repo: string;
  /** Branch, tag or commit hash (default main). */
  revision: string;
}

/** Shows one file's download; called once per file, stopped when it ends either way. */
export type DownloadProgress = (file: string, total: number) => { update(received: number): void; stop(): void };

export interface HubOptions {
  /** Default $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Sent as a Bearer token to the endpoint; default $HF_TOKEN. */
  token?: string;
  /** Use only the cache; default $HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Default: a bar on stderr (a line every 30 s when it is not a terminal); none with $HF_HUB_DISABLE_PROGRESS_BARS. */
  progress?: DownloadProgress;
}

const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const REPO_ID = /^\w(?:[\w.-]*\w)?\/\w(?:[\w.-]*\w)?$/;
/** Tries per file: the first and two resumes of a dropped transfer. */
const ATTEMPTS = 3;
/** Same-host redirects followed when asking for a file's metadata (renamed repos). */
const MAX_REDIRECTS = 5;

const truthy = (v: string | undefined) => /^(1|true|yes|on)$/i.test(v ?? '');

function isSafeRelative(path: string): boolean {
  return path !== '' && !path.startsWith('/') && !path.includes('\\') && path.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** `owner/name` or `owner/name@revision` with the hub's rules for repo ids; undefined for anything else. */
export function parseHubName(spec: string): HubName | undefined {
  const at = spec.indexOf('@');
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? 'main' : spec.slice(at + 1);
  const validRepo = REPO_ID.test(repo) && repo.length <= 96 && !repo.includes('--') && !repo.includes('..');
  return validRepo && isSafeRelative(revision) && !/\s/.test(revision) ? { repo, revision } : undefined;
}

interface Settings {
  endpoint: string;
  token?: string;
  offline: boolean;
  cacheDir: string;
  progress?: DownloadProgress;
  userAgent: string;
}

/** Options over the environment, read at call time so that a process can change it between loads. */
function settings(o: HubOptions): Settings {
  const env = process.env;
  return {
    endpoint: (o.endpoint ?? env.HF_ENDPOINT ?? HUB_URL).replace(/\/+$/, ''),
    token: o.token ?? (env.HF_TOKEN || undefined),
    offline: o.offline ?? truthy(env.HF_HUB_OFFLINE),
    cacheDir: o.cacheDir ?? getHFHubCachePath(),
    progress: o.progress ?? (truthy(env.HF_HUB_DISABLE_PROGRESS_BARS) ? undefined : terminalProgress),
    userAgent: `dlip/${readPackageVersion()}`,
  };
}

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

function terminalProgress(file: string, total: number): ReturnType<DownloadProgress> {
  const interactive = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    { format: `${file} [{bar}] {percentage}% | {done} / {size}`, stream: process.stderr, hideCursor: interactive, noTTYOutput: !interactive, notTTYSchedule: 30_000, clearOnComplete: !interactive },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(received) {
      const payload = { done: formatBytes(received), size: formatBytes(total) };
      if (started) bar.update(received, payload);
      else bar.start(total, received, payload);
      started = true;
    },
    stop() {
      if (started) bar.stop(); // also ends the non-TTY redraw timer, which would keep the process alive
    },
  };
}

/** A failure worth another try: the connection dropped, the body came up short, a 5xx. */
class TransferError extends Error {}

function cause(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.message ?? e.cause?.code ?? e.message;
}

async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new TransferError(`${url}: cannot reach the server (${cause(err)})`);
  }
}

/** Feeds the first `bytes` bytes of `path` to `hash`: what earlier tries of a download wrote. */
async function hashPrefix(hash: Hash, path: string, bytes: number): Promise<void> {
  if (bytes > 0) for await (const chunk of createReadStream(path, { end: bytes - 1 })) hash.update(chunk as Buffer);
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

interface FileMetadata {
  commit: string;
  etag: string;
  size: number;
  /** Where the bytes are: the resolve URL, or the CDN it redirects to. */
  url: string;
}

/** One revision of a model repo in the cache: what it holds, and fetches of what it lacks. */
export class HubSnapshot {
  private constructor(
    readonly name: HubName,
    private readonly s: Settings,
    /** models--owner--name in the cache. */
    readonly storage: string,
    private commit: string | undefined,
    /** What refs/<revision> held when opened. */
    private readonly refCommit: string | undefined,
  ) {}

  /** Finds the revision's commit in the cache (refs/ or the revision itself), without the network. */
  static async open(name: HubName, options: HubOptions = {}): Promise<HubSnapshot> {
    if (!isSafeRelative(name.revision)) throw new Error(`${name.repo}: refusing revision "${name.revision}"`);
    const s = settings(options);
    const storage = join(s.cacheDir, getRepoFolderName({ type: 'model', name: name.repo }));
    const refPath = join(storage, 'refs', name.revision);
    let ref: string | undefined;
    if (!COMMIT.test(name.revision) && existsSync(refPath)) {
      ref = (await readFile(refPath, 'utf8')).trim();
      if (!COMMIT.test(ref)) throw new Error(`${refPath}: expected a 40-character commit hash, found "${ref}"`);
    }
    return new HubSnapshot(name, s, storage, COMMIT.test(name.revision) ? name.revision : ref, ref);
  }

  get label(): string {
    return `${this.name.repo}@${this.name.revision}`;
  }

  get offline(): boolean {
    return this.s.offline;
  }

  /** snapshots/<commit>; known once the commit is, from the cache or the first request. */
  get dir(): string {
    if (!this.commit) throw new Error(`${this.label}: commit not known yet`);
    return join(this.storage, 'snapshots', this.commit);
  }

  /** What the cache knows: true (present), false (the repo has no such file), undefined (not asked yet). */
  has(file: string): boolean | undefined {
    if (!this.commit) return undefined;
    if (existsSync(join(this.dir, file))) return true;
    return existsSync(join(this.storage, '.no_exist', this.commit, file)) ? false : undefined;
  }

  /** Makes `file` present in the snapshot; false when the repo has none. Offline, an unknown file throws. */
  async ensure(file: string): Promise<boolean> {
    if (!isSafeRelative(file)) throw new Error(`${this.label}: refusing file name "${file}" (must stay inside the repo)`);
    const known = this.has(file);
    if (known !== undefined) return known;
    if (this.s.offline) {
      throw new Error(`${this.label}: ${file} is not in the Hugging Face cache (${this.storage}) and HF_HUB_OFFLINE is set; unset it to download`);
    }
    const meta = await this.metadata(file);
    if ('missing' in meta) {
      this.commit ??= meta.commit;
      if (this.commit) {
        const marker = join(this.storage, '.no_exist', this.commit, file);
        await mkdir(dirname(marker), { recursive: true });
        await writeFile(marker, '');
      }
      return false;
    }
    this.commit ??= meta.commit;
    const blob = await this.download(file, meta);
    const pointer = join(this.dir, file);
    await mkdir(dirname(pointer), { recursive: true });
    // Relative, like huggingface_hub's, so a moved cache stays valid; created aside and renamed in.
    const tmp = `${pointer}.${process.pid}.link`;
    await rm(tmp, { force: true });
    await symlink(relative(dirname(pointer), blob), tmp);
    await rename(tmp, pointer);
    return true;
  }

  /** Like ensure, but a file the repo lacks is an error naming the repo, the file and the URL. */
  async require(file: string): Promise<void> {
    if (!(await this.ensure(file))) throw new Error(`${this.label} has no ${file} (${this.resolveUrl(file)}: 404 not found)`);
  }

  /**
   * Points refs/<revision> at the commit once the files are in place, so offline use never picks a
   * half-fetched commit over a complete one. Returns the snapshot folder.
   */
  async finish(): Promise<string> {
    const dir = this.dir;
    if (this.commit !== this.name.revision && this.commit !== this.refCommit) {
      const refPath = join(this.storage, 'refs', this.name.revision);
      await mkdir(dirname(refPath), { recursive: true });
      await writeFileAtomic(refPath, this.commit!);
    }
    return dir;
  }

  private resolveUrl(file: string, revision = this.commit ?? this.name.revision): string {
    return `${this.s.endpoint}/${this.name.repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  private headers(url: string): Record<string, string> {
    // The token goes to the endpoint only, never to the CDN a file redirects to.
    const own = new URL(url).origin === new URL(this.s.endpoint).origin;
    return { 'User-Agent': this.s.userAgent, 'Accept-Encoding': 'identity', ...(own && this.s.token ? { Authorization: `Bearer ${this.s.token}` } : {}) };
  }

  /** HEAD on the resolve URL: commit, ETag and size, from the hub's response before any CDN redirect. */
  private async metadata(file: string): Promise<FileMetadata | { missing: true; commit?: string }> {
    let url = this.resolveUrl(file);
    for (let hop = 0; ; hop++) {
      const res = await request(url, { method: 'HEAD', redirect: 'manual', headers: this.headers(url) });
      const h = res.headers;
      const location = h.get('location');
      // Relative redirects stay on the hub (a renamed repo); absolute ones lead to the file's bytes.
      if (res.status >= 300 && res.status < 400 && location && !/^[a-z]+:\/\//i.test(location)) {
        if (hop === MAX_REDIRECTS) throw new Error(`${this.resolveUrl(file)}: more than ${MAX_REDIRECTS} redirects`);
        url = new URL(location, url).href;
        continue;
      }
      const code = h.get('x-error-code');
      const commit = h.get('x-repo-commit') ?? undefined;
      if (res.status === 404 && (!code || code === 'EntryNotFound')) return { missing: true, commit };
      if (code === 'RepoNotFound' || res.status === 401) {
        throw new Error(`${this.name.repo}: repository not found at ${this.s.endpoint}${this.s.token ? '' : ' (if it is private or gated, set HF_TOKEN)'}`);
      }
      if (code === 'RevisionNotFound') throw new Error(`${this.label}: revision ${this.name.revision} not found in ${this.name.repo}`);
      if (res.status >= 400) throw new Error(`${url}: HTTP ${res.status} ${h.get('x-error-message') ?? res.statusText}`);
      const etag = (h.get('x-linked-etag') ?? h.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
      const size = Number(h.get('x-linked-size') ?? h.get('content-length'));
      if (!commit || !COMMIT.test(commit)) throw new Error(`${url}: no X-Repo-Commit header (is ${this.s.endpoint} a Hugging Face hub?)`);
      if (!/^[\w.-]+$/.test(etag)) throw new Error(`${url}: missing or unusable ETag "${etag}"`);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${url}: no file size (X-Linked-Size or Content-Length)`);
      // Served by the hub itself: fetch it at the commit, so a branch that moves meanwhile cannot mix commits.
      return { commit, etag, size, url: location && res.status >= 300 && res.status < 400 ? new URL(location, url).href : this.resolveUrl(file, commit) };
    }
  }

  /** The blob for `meta`, downloaded into blobs/<etag>.incomplete (resumed, verified) and renamed. */
  private async download(file: string, meta: FileMetadata): Promise<string> {
    const blob = join(this.storage, 'blobs', meta.etag);
    if (existsSync(blob)) return blob;
    await mkdir(dirname(blob), { recursive: true });
    const partial = `${blob}.incomplete`;
    const progress = this.s.progress?.(`${this.name.repo}/${file}`, meta.size);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const sha256 = await this.transfer(meta, partial, (n) => progress?.update(n));
          if (SHA256.test(meta.etag) && sha256 !== meta.etag) {
            await rm(partial, { force: true });
            throw new TransferError(`${meta.url}: downloaded ${file} does not match its sha256 ${meta.etag}`);
          }
          break;
        } catch (err) {
          if (!(err instanceof TransferError) || attempt >= ATTEMPTS) {
            throw new Error(`${this.label}: downloading ${file} failed after ${attempt} attempt(s): ${(err as Error).message}`);
          }
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    } finally {
      progress?.stop();
    }
    await rename(partial, blob);
    return blob;
  }

  /**
   * One GET into `partial`, from where it ends when the server honours Range, else from the start.
   * Returns the sha256 of the whole file, hashed as the bytes arrive (only a resumed prefix is read back).
   */
  private async transfer(meta: FileMetadata, partial: string, onBytes: (received: number) => void): Promise<string> {
    let have = await sizeOf(partial);
    if (have > meta.size) {
      await rm(partial);
      have = 0;
    }
    const hash = createHash('sha256');
    if (have > 0 && have === meta.size) {
      await hashPrefix(hash, partial, have);
      return hash.digest('hex');
    }
    const res = await request(meta.url, { headers: { ...this.headers(meta.url), ...(have > 0 ? { Range: `bytes=${have}-` } : {}) } });
    let start = 0;
    if (res.status === 206) {
      start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
      if (start !== have) {
        await res.body?.cancel();
        await rm(partial, { force: true });
        throw new TransferError(`${meta.url}: asked for bytes from ${have}, got Content-Range "${res.headers.get('content-range')}"`);
      }
    } else if (res.status !== 200) {
      await res.body?.cancel();
      const message = `${meta.url}: HTTP ${res.status} ${res.statusText}`;
      if (res.status === 416) await rm(partial, { force: true }); // the partial file does not fit what is served: start over
      throw res.status >= 500 || res.status === 416 ? new TransferError(message) : new Error(message);
    }
    await hashPrefix(hash, partial, start);
    const handle = await open(partial, start > 0 ? 'a' : 'w');
    let received = start;
    onBytes(received);
    try {
      for await (const chunk of res.body ?? []) {
        await handle.write(chunk);
        hash.update(chunk);
        received += chunk.byteLength;
        onBytes(received);
      }
      await handle.sync();
    } catch (err) {
      throw new TransferError(`${meta.url}: connection lost after ${received} of ${meta.size} bytes (${cause(err)})`);
    } finally {
      await handle.close();
    }
    if (received !== meta.size) throw new TransferError(`${meta.url}: got ${received} of ${meta.size} bytes`);
    return hash.digest('hex');
  }
}
