import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveInt } from '../options.js';
import { SERVE_DEFAULTS } from '../../serve/options.js';
import type { ServeOptions } from '../../serve/options.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function port(value: string): number {
  const n = nonNegativeInt(value);
  if (n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535)`);
  return n;
}

function logLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new InvalidArgumentError(`"${value}" is not a log level (${LOG_LEVELS.join(', ')})`);
  return value;
}

const d = SERVE_DEFAULTS;

const HELP = `
Endpoints (GET /openapi.json describes each one):
  GET  /healthz /readyz /metrics /v1/model
  POST /v1/embeddings/image   image → unit embedding       POST /v1/embeddings/text  {"texts": [...]}
  POST /v1/caption            image → caption               POST /v1/vqa   image + question (+ answer candidates) → answer
  POST /v1/itm                image + text → match score    POST /v1/rank/texts  image + texts → ranking
  POST /v1/gallery  image (+ id, meta) → stored             GET /v1/gallery, GET|DELETE /v1/gallery/:id
  POST /v1/gallery/search  {"text", "k", "rerank"} or an image → nearest gallery images
  POST /admin/model {"model": DIR|NAME}  hot swap (also: kill -HUP <pid> reloads --model)
Images go as raw bytes (Content-Type image/jpeg, image/png or image/webp; other fields in the query
string) or as multipart/form-data with a file field "image".

Examples:
  dlip serve --model tiny-teacher --gallery ./gallery
  dlip serve --model tiny-teacher --runtime onnx --quantize int8   # forward passes in onnxruntime, int8
  curl --data-binary @cat.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8080/v1/caption?beams=3'
  curl -F image=@cat.jpg -F id=cat-1 http://127.0.0.1:8080/v1/gallery
  curl -H 'Content-Type: application/json' -d '{"text":"a red circle","k":5,"rerank":5}' http://127.0.0.1:8080/v1/gallery/search
SIGTERM (or Ctrl-C) stops taking requests, finishes those in flight, flushes the gallery and exits.`;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a model over HTTP on this machine: embeddings, captions, VQA, ITM and a persistent image gallery')
    .requiredOption('--model <dir|name>', 'model folder (dlip or Hugging Face BLIP), shipped model (e.g. tiny-teacher) or Hugging Face name (owner/name[@revision])')
    .option('--host <address>', `address to listen on (default ${d.host}: this machine only; anything else needs an API key)`)
    .option('--port <n>', `TCP port (default ${d.port}; 0 picks a free one)`, port)
    .addOption(new Option('--runtime <name>', 'tfjs: the TypeScript model (default); onnx: its ONNX graphs, exported in memory at load, run by onnxruntime-node (same answers; kept across hot swaps)').choices(['tfjs', 'onnx']))
    .addOption(new Option('--quantize <kind>', 'with --runtime onnx: int8 linear weights, activations quantised at run time').choices(['int8']))
    .option('--gallery <dir>', 'keep a persistent image gallery in this folder (created if missing); without it the gallery endpoints answer 404')
    .option('--api-key <key>', 'require this key (Authorization: Bearer KEY or X-API-Key) on every endpoint but /healthz, /readyz and /openapi.json (default: $DLIP_API_KEY)')
    .option('--api-key-file <file>', 'read the API key from this file (first line), keeping it out of the process list')
    .option('--max-batch <n>', `requests per model batch (default ${d.maxBatch})`, positiveInt)
    .option('--max-wait-ms <ms>', `how long a request waits for others to share its batch (default ${d.maxWaitMs})`, nonNegativeInt)
    .option('--queue-limit <n>', `requests waiting for the model at most; beyond it, 503 with Retry-After (default ${d.queueLimit})`, positiveInt)
    .option('--timeout-ms <ms>', `per-request limit in the queue and the model; 503 after it (default ${d.timeoutMs})`, positiveInt)
    .option('--max-body-mb <n>', `largest request body in MiB (default ${d.bodyLimit / 1024 / 1024})`, positiveInt)
    .option('--max-pixels <n>', `largest image, width × height (default ${d.maxPixels})`, positiveInt)
    .option('--max-text-chars <n>', `longest text in characters (default ${d.maxTextChars})`, positiveInt)
    .option('--max-texts <n>', `most texts in one request (default ${d.maxTexts})`, positiveInt)
    .option('--max-rerank <n>', `most candidates one ITM rerank scores (default ${d.maxRerank})`, positiveInt)
    .option('--drain-timeout-ms <ms>', `on SIGTERM, how long to wait for requests in flight (default ${d.drainTimeoutMs})`, nonNegativeInt)
    .option('--compact-after <n>', `gallery log records before it is compacted into a snapshot (default ${d.compactAfter})`, positiveInt)
    .option('--log-level <level>', `JSON log level on stdout: ${LOG_LEVELS.join(', ')} (default ${d.logLevel})`, logLevel)
    .addHelpText('after', HELP)
    .action(async (o: { model: string; host?: string; port?: number; runtime?: 'tfjs' | 'onnx'; quantize?: 'int8'; gallery?: string; apiKey?: string; apiKeyFile?: string; maxBatch?: number; maxWaitMs?: number; queueLimit?: number; timeoutMs?: number; maxBodyMb?: number; maxPixels?: number; maxTextChars?: number; maxTexts?: number; maxRerank?: number; drainTimeoutMs?: number; compactAfter?: number; logLevel?: string }, command: Command) => {
      let apiKey = o.apiKey ?? process.env.DLIP_API_KEY;
      if (o.apiKeyFile) {
        const text = await readFile(o.apiKeyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new Error(`--api-key-file ${o.apiKeyFile}: cannot read (${err.code ?? err.message})`);
        });
        apiKey = text.split('\n')[0]!.trim();
        if (!apiKey) throw new Error(`--api-key-file ${o.apiKeyFile}: the first line is empty`);
      }
      const options: ServeOptions = {
        ...d,
        model: o.model,
        backend: command.parent?.opts<{ backend?: string }>().backend,
        // startServer refuses --quantize without --runtime onnx.
        runtime: { engine: o.runtime ?? 'tfjs', ...(o.quantize && { quantize: o.quantize }) },
        ...(o.host !== undefined && { host: o.host }),
        ...(o.port !== undefined && { port: o.port }),
        ...(o.gallery !== undefined && { gallery: o.gallery }),
        ...(apiKey && { apiKey }),
        ...(o.maxBatch !== undefined && { maxBatch: o.maxBatch }),
        ...(o.maxWaitMs !== undefined && { maxWaitMs: o.maxWaitMs }),
        ...(o.queueLimit !== undefined && { queueLimit: o.queueLimit }),
        ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }),
        ...(o.maxBodyMb !== undefined && { bodyLimit: o.maxBodyMb * 1024 * 1024 }),
        ...(o.maxPixels !== undefined && { maxPixels: o.maxPixels }),
        ...(o.maxTextChars !== undefined && { maxTextChars: o.maxTextChars }),
        ...(o.maxTexts !== undefined && { maxTexts: o.maxTexts }),
        ...(o.maxRerank !== undefined && { maxRerank: o.maxRerank }),
        ...(o.drainTimeoutMs !== undefined && { drainTimeoutMs: o.drainTimeoutMs }),
        ...(o.compactAfter !== undefined && { compactAfter: o.compactAfter }),
        ...(o.logLevel !== undefined && { logLevel: o.logLevel }),
      };
      const { startServer } = await import('../../serve/server.js');
      const server = await startServer(options);
      server.logger.info({ url: server.url }, 'listening');
      const stop = (signal: string) => {
        server.logger.info({ signal }, 'draining');
        server.close().then(
          () => process.exit(0),
          (err: Error) => {
            server.logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        server.logger.info({ model: options.model }, 'SIGHUP: reloading the model');
        // The outcome is logged by the swap itself; a failure keeps the old version.
        server.reload().catch(() => undefined);
      });
    });
}
