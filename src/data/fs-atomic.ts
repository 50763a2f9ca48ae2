// Atomic writes: a reader never sees a half-written file, and an interrupted run leaves no truncated output.
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';

const tempName = (path: string) => `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(path);
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const tmp = tempName(path);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
