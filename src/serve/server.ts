// A running `dlip serve`: the model host and its worker, the batcher, the gallery and the HTTP app,
// started together and stopped in order (drain requests, flush the gallery, stop the worker).
import { pino } from 'pino';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { isLoopback } from './auth.js';
import type { ServeContext } from './context.js';
import { HttpError } from './errors.js';
import { Gallery } from './gallery/gallery.js';
import { ModelHost } from './host.js';
import { MicroBatcher } from './batcher.js';
import { ServeMetrics } from './metrics.js';
import type { ServeOptions } from './options.js';
import type { ModelInfo } from './protocol.js';
import type { FastifyInstance } from 'fastify';

/** A server that is listening and has its model loaded (startServer resolves when it is ready). */
export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port of the listening socket. */
  url: string;
  context: ServeContext;
  logger: Logger;
  /** Loads options.model again (SIGHUP): a hot swap to whatever the path holds now. */
  reload(): Promise<ModelInfo>;
  /** Stops taking requests, waits for those in flight (up to drainTimeoutMs), then closes everything. */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions, logger: Logger = pino({ name: 'dlip-serve', level: options.logLevel })): Promise<RunningServer> {
  if (!isLoopback(options.host) && !options.apiKey) {
    throw new Error(`--host ${options.host} makes the server reachable from other machines: give --api-key or --api-key-file (or serve on 127.0.0.1)`);
  }
  if (options.runtime.quantize && options.runtime.engine !== 'onnx') {
    throw new Error(`--quantize ${options.runtime.quantize} needs --runtime onnx (the tfjs runtime runs the float weights)`);
  }
  const gallery = options.gallery ? await Gallery.open(options.gallery, { compactAfter: options.compactAfter }) : undefined;
  if (gallery) {
    const r = gallery.openReport;
    logger.info({ dir: options.gallery, entries: r.entries, tornBytes: r.tornBytes, orphanImages: r.orphanImages }, 'gallery opened');
    if (r.tornBytes > 0) logger.warn({ bytes: r.tornBytes }, 'gallery log ended in a torn write (a crash mid-write); the unacknowledged tail was dropped');
  }
  const metrics = new ServeMetrics();
  const host = new ModelHost(options.backend, options.runtime, gallery);
  const batcher = new MicroBatcher(options, () => host.worker);
  const context: ServeContext = { options, host, batcher, gallery, metrics, state: { draining: false } };
  batcher.onBatch = (e) => {
    metrics.batchSize.observe({ kind: e.kind }, e.size);
    metrics.inference.observe({ kind: e.kind }, e.seconds);
  };
  batcher.onDepth = (d) => metrics.queueDepth.set(d);
  host.onSwitch = () => batcher.pump();
  host.onSwap = (e) => {
    metrics.swaps.inc({ result: e.result });
    if (e.result === 'ok') {
      metrics.setModel(e.to!);
      logger.info({ from: e.from?.version, to: e.to?.version, spec: e.to?.spec, runtime: e.to?.runtime, seconds: e.seconds }, 'model swapped');
    } else {
      logger.error({ error: e.error, serving: e.from?.version }, 'model swap failed; the previous version keeps serving');
    }
  };
  host.onCrash = (err, spec) => {
    logger.error({ err }, 'the model worker died; restarting it');
    host.swap(spec).catch((e: Error) => logger.fatal({ err: e }, 'restarting the model worker failed; /readyz stays 503'));
  };

  const app = await buildApp(context, logger);
  // Listening first: /healthz answers and /readyz says 503 while the model loads and the gallery is indexed.
  try {
    await app.listen({ host: options.host, port: options.port });
    const info = await host.start(options.model);
    metrics.setModel(info);
    metrics.galleryEntries.set(gallery?.size ?? 0);
    logger.info({ spec: info.spec, architecture: info.architecture, version: info.version, runtime: info.runtime, loadSeconds: info.loadSeconds, warmupSeconds: info.warmupSeconds }, 'model ready');
  } catch (err) {
    await app.close();
    await host.close();
    await gallery?.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    context,
    logger,
    async reload() {
      return (await host.swap(options.model)).to;
    },
    close() {
      closing ??= (async () => {
        context.state.draining = true;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), options.drainTimeoutMs)));
        const drained = await Promise.race([app.close().then(() => 'drained' as const), timedOut]);
        clearTimeout(timer);
        if (drained === 'timeout') logger.warn({ ms: options.drainTimeoutMs }, 'requests still in flight after the drain timeout; stopping anyway');
        batcher.rejectAll(new HttpError(503, 'shutting_down', 'the server is shutting down', 1));
        await gallery?.close();
        await host.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}
