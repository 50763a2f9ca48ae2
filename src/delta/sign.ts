// Optional ed25519 signatures of patches, through node:crypto. Keys are PEM files (PKCS#8 private,
// SPKI public); a signed patch carries the signer's raw public key, so a refusal can say whose it is.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeAtomic } from '../io/atomic.js';
import { signatureBlock } from './format.js';
import type { PatchFile } from './format.js';

/** The raw 32-byte ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

/** Short, printable identity of a public key: the first 16 hex digits of its raw bytes' sha256. */
export function keyFingerprint(key: KeyObject | Buffer): string {
  const raw = Buffer.isBuffer(key) ? key : rawPublicKey(key);
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

function requireEd25519(key: KeyObject, path: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path}: a ${key.asymmetricKeyType ?? 'symmetric'} key; dlip delta signs with ed25519 keys (dlip delta keygen)`);
  return key;
}

async function readPem(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${path}: cannot read the key (${err.code ?? err.message})`);
  });
}

export async function readPrivateKey(path: string): Promise<KeyObject> {
  const pem = await readPem(path);
  try {
    return requireEd25519(createPrivateKey(pem), path);
  } catch (err) {
    if ((err as Error).message.startsWith(path)) throw err;
    throw new Error(`${path}: not a PEM private key (${(err as Error).message}); --sign-key takes the .key file of dlip delta keygen`);
  }
}

export async function readPublicKey(path: string): Promise<KeyObject> {
  const pem = await readPem(path);
  if (pem.includes('PRIVATE KEY')) throw new Error(`${path}: a private key; --verify-key takes the public .pub file`);
  try {
    return requireEd25519(createPublicKey(pem), path);
  } catch (err) {
    if ((err as Error).message.startsWith(path)) throw err;
    throw new Error(`${path}: not a PEM public key (${(err as Error).message}); --verify-key takes the .pub file of dlip delta keygen`);
  }
}

/** Writes `<base>.key` (private, mode 0600) and `<base>.pub`; refuses to overwrite either. */
export async function writeKeyPair(base: string): Promise<{ privatePath: string; publicPath: string; fingerprint: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePath = `${base}.key`;
  const publicPath = `${base}.pub`;
  for (const p of [privatePath, publicPath]) if (existsSync(p)) throw new Error(`${p} already exists; keygen never overwrites a key`);
  await writeAtomic(privatePath, async (handle) => {
    await handle.chmod(0o600);
    await handle.writeFile(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  });
  await writeAtomic(publicPath, async (handle) => {
    await handle.writeFile(publicKey.export({ format: 'pem', type: 'spki' }));
  });
  return { privatePath, publicPath, fingerprint: keyFingerprint(publicKey) };
}

/** `bytes` (an unsigned patch) with a signature block appended. */
export function signPatch(bytes: Buffer, privateKey: KeyObject): Buffer {
  return Buffer.concat([bytes, signatureBlock(rawPublicKey(privateKey), sign(null, bytes, privateKey))]);
}

/** Throws unless `patch` is signed by `publicKey` and the signature covers its bytes. */
export function verifyPatch(patch: PatchFile, publicKey: KeyObject, name: string): void {
  if (!patch.signature) throw new Error(`${name} is not signed, and --verify-key requires a patch signed by key ${keyFingerprint(publicKey)}`);
  const signer = keyFingerprint(patch.signature.publicKey);
  const expected = keyFingerprint(publicKey);
  if (signer !== expected) throw new Error(`${name} is signed by key ${signer}, not by the verify key ${expected}`);
  if (!verify(null, patch.signed, publicKey, patch.signature.signature)) {
    throw new Error(`${name}: the signature does not verify with key ${expected}; the patch was altered after signing`);
  }
}
