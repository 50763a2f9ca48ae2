import { Option } from 'commander';
import type { Command } from 'commander';
import { resolveModelPath } from '../../io/checkpoint.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { applyDelta, CODECS, createDelta, keyFingerprint, readPrivateKey, readPublicKey, writeKeyPair } from '../../delta/index.js';
import type { Codec } from '../../delta/index.js';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

export function registerDelta(program: Command): void {
  const delta = program
    .command('delta')
    .description('update deployed models with small patches: only the tensors (and files) that changed, checked by sha256 on both ends, optionally signed with ed25519');
  delta
    .command('create')
    .description('write the patch that turns model folder OLD into NEW (same weights file layout: one model.safetensors)')
    .argument('<old>', 'the base model folder, as deployed')
    .argument('<new>', 'the updated model folder (e.g. a fine-tune of OLD)')
    .requiredOption('--out <patch>', 'patch file to write')
    .addOption(new Option('--codec <codec>', 'node:zlib compression: deflate (fast) or brotli (smaller, slower to write)').choices(CODECS).default('deflate'))
    .option('--sign-key <file>', 'sign the patch with this ed25519 private key (the .key of dlip delta keygen)')
    .action(async (oldSpec: string, newSpec: string, opts: { out: string; codec: Codec; signKey?: string }) => {
      const signKey = opts.signKey ? await readPrivateKey(opts.signKey) : undefined;
      const { bytes, header } = await createDelta(await resolveModelPath(oldSpec), await resolveModelPath(newSpec), { codec: opts.codec, signKey });
      await writeFileAtomic(opts.out, bytes);
      const t = header.summary.tensors;
      const f = header.summary.files;
      process.stdout.write(
        `${opts.out}: ${mb(bytes.length)} (${((100 * bytes.length) / header.result.bytes).toFixed(1)}% of the ${mb(header.result.bytes)} weights), ${opts.codec}${signKey ? `, signed by ${keyFingerprint(signKey)}` : ''}\n` +
          `  tensors: ${t.changed} changed, ${t.added} added, ${t.removed.length} removed, ${t.unchanged} unchanged\n` +
          `  files: ${f.changed.length ? `${f.changed.join(', ')} changed` : 'none changed'}${f.removed.length ? `, ${f.removed.join(', ')} removed` : ''}\n` +
          `  base sha256 ${header.base.sha256.slice(0, 16)}… → result ${header.result.sha256.slice(0, 16)}…\n`,
      );
    });
  delta
    .command('apply')
    .description('rebuild the new model folder from BASE and a patch: refuses a patch made for another base, a corrupt or truncated one, and (with --verify-key) an unsigned or wrongly signed one; the folder is written whole, then renamed into place')
    .argument('<base>', 'the model folder the patch was made against')
    .argument('<patch>', 'patch file from dlip delta create')
    .requiredOption('--out <dir>', 'folder to create (must not exist)')
    .option('--verify-key <file>', 'require a signature by this ed25519 public key (the .pub of dlip delta keygen)')
    .action(async (baseSpec: string, patch: string, opts: { out: string; verifyKey?: string }) => {
      const verifyKey = opts.verifyKey ? await readPublicKey(opts.verifyKey) : undefined;
      const r = await applyDelta(await resolveModelPath(baseSpec), patch, opts.out, { verifyKey });
      const note = r.verified ? `, signature verified (key ${keyFingerprint(verifyKey!)})` : r.signed ? ', signed (not checked: no --verify-key)' : '';
      process.stdout.write(`${r.out}: sha256 ${r.sha256.slice(0, 16)}… verified${note}; ${r.tensors.changed + r.tensors.added} tensors from the patch, ${r.tensors.unchanged} from the base\n`);
    });
  delta
    .command('keygen')
    .description('create an ed25519 key pair for signing patches: <out>.key (private, mode 0600; keep it off the deployed machines) and <out>.pub')
    .requiredOption('--out <path>', 'path prefix of the two key files')
    .action(async (opts: { out: string }) => {
      const { privatePath, publicPath, fingerprint } = await writeKeyPair(opts.out);
      process.stdout.write(`${privatePath} (private), ${publicPath} (public), key ${fingerprint}\n`);
    });
}
