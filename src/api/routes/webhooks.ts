import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid, notFound } from '../../protocol/errors.js';
import { clip } from '../../protocol/validate.js';
import type { WebhookService } from '../../webhooks/service.js';

type Query = Record<string, string | string[] | undefined>;

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalid(`${name}: given more than once`);
  return value;
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;

function webhookId(request: FastifyRequest): string {
  const id = (request.params as { id: string }).id;
  if (!ID.test(id)) throw notFound(`webhook '${clip(id)}' not found`);
  return id;
}

/**
 * §10.4 webhooks: create, list, get, patch (`update_mask`), delete, and the custom methods
 * `{id}:ping` and `{id}:rotateSigningSecret` (one POST route: Fastify sees `id:method` as the
 * parameter). Mounted under /v1 and /v1beta.
 */
export function webhookRoutes(app: FastifyInstance, opts: { webhooks: WebhookService }): void {
  const { webhooks } = opts;

  app.post('/webhooks', async (request) => webhooks.create(request.project, request.body));

  app.get('/webhooks', async (request) => {
    const query = request.query as Query;
    const sizeText = single(query, 'page_size');
    if (sizeText !== undefined && !/^\d{1,9}$/.test(sizeText))
      throw invalid(`page_size: expected a non-negative integer, got '${clip(sizeText)}'`);
    return webhooks.list(
      request.project,
      sizeText === undefined ? undefined : Number(sizeText),
      single(query, 'page_token') || undefined,
    );
  });

  app.get('/webhooks/:id', async (request) => webhooks.get(request.project, webhookId(request)));

  app.patch('/webhooks/:id', async (request) =>
    webhooks.update(
      request.project,
      webhookId(request),
      request.body,
      single(request.query as Query, 'update_mask'),
    ),
  );

  app.delete('/webhooks/:id', async (request) => {
    await webhooks.delete(request.project, webhookId(request));
    return {};
  });

  app.post('/webhooks/:id', async (request) => {
    const raw = (request.params as { id: string }).id;
    const colon = raw.lastIndexOf(':');
    const method = colon >= 0 ? raw.slice(colon + 1) : '';
    const id = colon >= 0 ? raw.slice(0, colon) : raw;
    if (!ID.test(id)) throw notFound(`webhook '${clip(id)}' not found`);
    if (method === 'ping') return webhooks.ping(request.project, id);
    if (method === 'rotateSigningSecret')
      return webhooks.rotateSigningSecret(request.project, id, request.body);
    throw notFound(
      `webhooks/${clip(raw)}: unknown method (expected webhooks/{id}:ping or webhooks/{id}:rotateSigningSecret)`,
    );
  });
}
