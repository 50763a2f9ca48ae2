// Delta updates of model folders: patches carrying only what changed, verified by sha256 on both
// ends, optionally signed with ed25519.
export { createDelta } from './create.js';
export type { CreateOptions, CreatedPatch } from './create.js';
export { applyDelta } from './apply.js';
export type { ApplyOptions, ApplyReport } from './apply.js';
export { decodePatch, CODECS } from './format.js';
export type { Codec, PatchHeader, PatchFile } from './format.js';
export { keyFingerprint, readPrivateKey, readPublicKey, writeKeyPair } from './sign.js';
