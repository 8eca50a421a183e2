import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FileService } from '../../files/file-service.js';
import { invalid, preconditionFailed } from '../../protocol/errors.js';
import { FILE_ID, type ListFilesResponse } from '../../protocol/files.js';
import { pageParams, type Query } from './query.js';

export interface FileRoutesOptions {
  files: FileService;
  /** The API version segment these routes are mounted under (it goes into `File.uri`). */
  version: string;
}

/** The scheme and host the client addressed: `File.uri` and upload URLs are built on it. */
export const requestOrigin = (request: FastifyRequest) => `${request.protocol}://${request.host}`;

/** `files/{id}` and `files/{id}:download` (the SDK sends the id unencoded). */
function parseName(request: FastifyRequest): { id: string; action?: string } {
  const raw = (request.params as { name: string }).name;
  const [id = '', action] = raw.split(':', 2);
  if (!FILE_ID.test(id))
    throw invalid(`name: 'files/${raw.slice(0, 80)}' is not a valid file name`);
  return { id, action };
}

/** §9.2: get, list, delete (the upload is in uploads.ts). Mounted under /v1 and /v1beta. */
export function fileRoutes(app: FastifyInstance, opts: FileRoutesOptions): void {
  const { files, version } = opts;

  app.get('/files', async (request): Promise<ListFilesResponse> => {
    const { pageSize, pageToken } = pageParams(request.query as Query);
    const page = await files.list(request.project, pageSize, pageToken);
    const origin = requestOrigin(request);
    // Like Google (proto3 JSON): an empty list is `{}`.
    return {
      ...(page.files.length > 0
        ? { files: page.files.map((f) => files.toResource(f, origin, version)) }
        : {}),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    };
  });

  app.get('/files/:name', async (request) => {
    const { id, action } = parseName(request);
    const file = await files.get(request.project, id);
    if (action === 'download') {
      throw preconditionFailed(
        `files/${id}: only generated files can be downloaded, not uploaded ones (as in Google's Files API)`,
      );
    }
    if (action !== undefined) throw invalid(`name: unknown method ':${action.slice(0, 40)}'`);
    return files.toResource(file, requestOrigin(request), version);
  });

  app.delete('/files/:name', async (request) => {
    const { id, action } = parseName(request);
    if (action !== undefined) throw invalid(`name: unknown method ':${action.slice(0, 40)}'`);
    await files.delete(request.project, id);
    return {};
  });
}
