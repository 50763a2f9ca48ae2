// The HTTP application: content types, limits, API key, metrics hooks, errors as JSON, routes.
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import { keyChecker, requestKey } from './auth.js';
import type { ServeContext } from './context.js';
import { HttpError } from './errors.js';
import { registerGalleryRoutes } from './gallery-routes.js';
import { IMAGE_TYPES } from './images.js';
import { openApiDocument } from './openapi.js';
import { registerModelRoutes } from './routes.js';

/** Reachable without the API key: probes and the API description. */
const PUBLIC = new Set(['/healthz', '/readyz', '/openapi.json']);

const ROUTES = new WeakMap<FastifyInstance, string[]>();

/** "METHOD /path" of every route the app registered (HEAD twins left out), for the OpenAPI check. */
export function registeredRoutes(app: FastifyInstance): string[] {
  return ROUTES.get(app) ?? [];
}

export async function buildApp(ctx: ServeContext, logger: FastifyBaseLogger): Promise<FastifyInstance> {
  const { options } = ctx;
  const app = Fastify({ loggerInstance: logger, bodyLimit: options.bodyLimit, forceCloseConnections: 'idle', return503OnClosing: true });
  await app.register(multipart, {
    limits: { fileSize: options.bodyLimit, files: 1, fields: 32, fieldSize: Math.max(options.maxTextChars * 4, 8192), parts: 64 },
    throwFileSizeLimit: true,
  });
  app.addContentTypeParser([...IMAGE_TYPES], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const checkKey = options.apiKey ? keyChecker(options.apiKey) : undefined;
  app.addHook('onRequest', async (req) => {
    if (!checkKey || PUBLIC.has(req.routeOptions.url ?? '')) return;
    if (!checkKey(requestKey(req.headers))) throw new HttpError(401, 'unauthorized', 'missing or wrong API key: send Authorization: Bearer KEY or X-API-Key: KEY');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    ctx.metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    ctx.metrics.latency.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) {
      if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
      return reply.code(err.status).send({ error: err.code, message: err.message });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Fastify's and multipart's own client errors (bad JSON, body too large, wrong content type).
      return reply.code(status).send({ error: (err.code ?? 'bad_request').toLowerCase(), message: err.message });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; the server log has the details' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no endpoint ${req.method} ${req.url.split('?')[0]}; GET /openapi.json lists them` });
  });

  const routes: string[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${r.url}`);
  });
  const document = openApiDocument();
  app.get('/openapi.json', async () => document);
  registerModelRoutes(app, ctx);
  registerGalleryRoutes(app, ctx);
  return app;
}
