// Outputs are written to a temp file beside the target and renamed into place, so a killed run
// never leaves a half-written checkpoint or report under the real name.
import { open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

/** Writes `path` through `write(handle)` on a temp file, fsyncs, then renames it into place. */
export async function writeAtomic(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(path);
  const handle = await open(tmp, 'w');
  try {
    await write(handle);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(tmp, path);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomic(path, async (handle) => {
    await handle.writeFile(data);
  });
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

