/**
 * §9.3: File Search stores, their documents and operations, mounted under /v1 and /v1beta (the
 * store upload is in uploads.ts). The SDK sends resource names unencoded, so a store's methods
 * arrive as `fileSearchStores/{id}:importFile`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FileSearchService } from '../../files/file-search-service.js';
import { invalid, notFound } from '../../protocol/errors.js';
import type {
  ListDocumentsResponse,
  ListFileSearchStoresResponse,
} from '../../protocol/file-search.js';
import { flag, pageParams, type Query } from './query.js';

export interface FileSearchRoutesOptions {
  fileSearch: FileSearchService;
}

type Params = Record<string, string>;

/** `{id}` or `{id}:{method}` of a store. */
function storeParam(request: FastifyRequest): { id: string; method?: string } {
  const raw = (request.params as Params).store!;
  const [id = '', method] = raw.split(':', 2);
  return { id, method };
}

function noMethod(method: string | undefined): void {
  if (method !== undefined) throw invalid(`name: unknown method ':${method.slice(0, 40)}'`);
}

export function fileSearchRoutes(app: FastifyInstance, opts: FileSearchRoutesOptions): void {
  const { fileSearch } = opts;

  app.post('/fileSearchStores', async (request) =>
    fileSearch.toStoreResource(await fileSearch.createStore(request.project, request.body)),
  );

  app.get('/fileSearchStores', async (request): Promise<ListFileSearchStoresResponse> => {
    const { pageSize, pageToken } = pageParams(request.query as Query);
    const page = await fileSearch.listStores(request.project, pageSize, pageToken);
    // Like Google (proto3 JSON): an empty list is `{}`.
    return {
      ...(page.items.length > 0
        ? { fileSearchStores: page.items.map((s) => fileSearch.toStoreResource(s)) }
        : {}),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    };
  });

  app.get('/fileSearchStores/:store', async (request) => {
    const { id, method } = storeParam(request);
    noMethod(method);
    return fileSearch.toStoreResource(await fileSearch.getStore(request.project, id));
  });

  app.delete('/fileSearchStores/:store', async (request) => {
    const { id, method } = storeParam(request);
    noMethod(method);
    await fileSearch.deleteStore(request.project, id, flag(request.query as Query, 'force'));
    return {};
  });

  app.post('/fileSearchStores/:store', async (request) => {
    const { id, method } = storeParam(request);
    if (method === 'importFile') {
      const op = await fileSearch.importFile(request.project, id, request.body);
      return fileSearch.toOperationResource(op);
    }
    if (method === 'uploadToFileSearchStore') {
      throw invalid(
        'path: uploadToFileSearchStore takes the resumable upload protocol at /upload/{v}/fileSearchStores/{id}:uploadToFileSearchStore',
      );
    }
    throw notFound(
      `POST ${request.url.split('?')[0]!.slice(0, 120)}: no such route${method ? ` (unknown method ':${method.slice(0, 40)}')` : ''}`,
    );
  });

  app.get('/fileSearchStores/:store/documents', async (request): Promise<ListDocumentsResponse> => {
    const { id, method } = storeParam(request);
    noMethod(method);
    const { pageSize, pageToken } = pageParams(request.query as Query);
    const page = await fileSearch.listDocuments(request.project, id, pageSize, pageToken);
    return {
      ...(page.items.length > 0
        ? { documents: page.items.map((d) => fileSearch.toDocumentResource(d)) }
        : {}),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    };
  });

  app.get('/fileSearchStores/:store/documents/:document', async (request) => {
    const { document } = request.params as Params;
    const doc = await fileSearch.getDocument(request.project, storeParam(request).id, document!);
    return fileSearch.toDocumentResource(doc);
  });

  app.delete('/fileSearchStores/:store/documents/:document', async (request) => {
    const { document } = request.params as Params;
    await fileSearch.deleteDocument(
      request.project,
      storeParam(request).id,
      document!,
      flag(request.query as Query, 'force'),
    );
    return {};
  });

  // `ai.operations.get({operation})` polls the operation's name under /{v}/.
  app.get('/fileSearchStores/:store/operations/:operation', async (request) => {
    const { operation } = request.params as Params;
    const op = await fileSearch.getOperation(
      request.project,
      storeParam(request).id,
      operation!,
      'import',
    );
    return fileSearch.toOperationResource(op);
  });

  app.get('/fileSearchStores/:store/upload/operations/:operation', async (request) => {
    const { operation } = request.params as Params;
    const op = await fileSearch.getOperation(
      request.project,
      storeParam(request).id,
      operation!,
      'upload',
    );
    return fileSearch.toOperationResource(op);
  });
}
