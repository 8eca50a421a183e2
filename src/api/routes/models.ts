import type { FastifyInstance } from 'fastify';
import type { ModelListing, ModelRegistry } from '../../models/registry.js';
import { invalid, notFound } from '../../protocol/errors.js';
import type { ListModelsResponse, ModelResource } from '../../protocol/models.js';
import { pageParams, type Query } from './query.js';

/** Google's defaults for `models.list`: 50 per page, at most 1000. */
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

/** The methods a configured model serves here (the SDK shows them as `supportedActions`). */
const SUPPORTED_METHODS = ['createInteraction'];

export function toModelResource(listing: ModelListing): ModelResource {
  const alias = listing.name !== listing.entryName;
  const description =
    listing.description ?? (alias ? `Served by the configured model ${listing.entryName}` : '');
  return {
    name: `models/${listing.name}`,
    baseModelId: listing.name,
    displayName: listing.displayName ?? listing.name,
    ...(description ? { description } : {}),
    ...(listing.inputTokenLimit !== undefined ? { inputTokenLimit: listing.inputTokenLimit } : {}),
    ...(listing.outputTokenLimit !== undefined
      ? { outputTokenLimit: listing.outputTokenLimit }
      : {}),
    supportedGenerationMethods: SUPPORTED_METHODS,
    inputModalities: listing.inputModalities,
  };
}

/** The list is configuration, so a page token is just the offset of the next page. */
function decodeOffset(token: string): number {
  const text = Buffer.from(token, 'base64url').toString();
  if (!/^\d{1,9}$/.test(text)) throw invalid('pageToken: not a page token issued by this server');
  return Number(text);
}

/** The Models API: the configured names (and aliases) clients may put in `model`. */
export function modelRoutes(app: FastifyInstance, opts: { models: ModelRegistry }): void {
  const { models } = opts;

  app.get('/models', async (request): Promise<ListModelsResponse> => {
    const query = request.query as Query;
    const { pageSize = DEFAULT_PAGE_SIZE, pageToken } = pageParams(query);
    const size = Math.min(pageSize, MAX_PAGE_SIZE);
    const offset = pageToken === undefined ? 0 : decodeOffset(pageToken);
    const all = models.list();
    const page = all.slice(offset, offset + size).map(toModelResource);
    const next = offset + size;
    // Like Google (proto3 JSON): an empty list is `{}`.
    return {
      ...(page.length > 0 ? { models: page } : {}),
      ...(next < all.length
        ? { nextPageToken: Buffer.from(String(next)).toString('base64url') }
        : {}),
    };
  });

  app.get('/models/:name', async (request): Promise<ModelResource> => {
    const name = (request.params as { name: string }).name;
    const listing = models.find(name);
    if (!listing) {
      throw notFound(
        `models/${name.slice(0, 200)}: no such model (configured: ${models.names().join(', ') || 'none'})`,
      );
    }
    return toModelResource(listing);
  });
}
