/**
 * The HTTP face of the resumable upload protocol (spec §9.1), as `@google/genai` speaks it:
 *
 *   POST /upload/{v}/files  x-goog-upload-protocol: resumable, x-goog-upload-command: start,
 *        x-goog-upload-header-content-length / -content-type, JSON {"file": {...}}
 *     → 200, x-goog-upload-url: /upload/{v}/files?upload_id=…&upload_protocol=resumable
 *   POST <upload url>  x-goog-upload-command: upload | upload, finalize | query | cancel,
 *        x-goog-upload-offset: N, raw bytes (the SDK labels them application/json)
 *     → 200, x-goog-upload-status: active | final | cancelled, x-goog-upload-size-received: N;
 *       after finalize the body is {"file": File}
 *
 * Also the single-request `x-goog-upload-protocol: raw` form (the body is the file). Upload
 * bodies are streamed to storage, never parsed or held whole: this scope replaces the app's JSON
 * parser, and only a start request's small JSON body is read into memory.
 *
 * Chunk requests may come without an API key, as with Google (its docs' curl sends the chunks
 * to the upload URL alone): the unguessable upload id authorises them. A key, when sent, must
 * belong to the session's project.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { FileSearchService } from '../../files/file-search-service.js';
import type { FileService } from '../../files/file-service.js';
import { UploadStateError, type UploadService } from '../../files/uploads.js';
import { ApiError, invalid, notFound } from '../../protocol/errors.js';
import type { UploadRecord } from '../../store/file-store.js';
import type { KeyRing } from '../auth.js';
import { requestOrigin } from './files.js';
import { single, type Query } from './query.js';

export interface UploadRoutesOptions {
  files: FileService;
  uploads: UploadService;
  /** Authenticates (and counts against the requests-per-minute limits) a request. */
  keys: Pick<KeyRing, 'authorize'>;
  version: string;
  /** File Search store uploads (§9.3), when File Search is enabled. */
  fileSearch?: FileSearchService;
}

/** Largest JSON body of a start request (metadata only). */
const START_BODY_LIMIT = 1024 * 1024;
/**
 * A refused chunk whose client is still sending: up to this many bytes are read and dropped so
 * the client gets the answer on a healthy connection; beyond it the connection is closed.
 */
const DRAIN_LIMIT = 16 * 1024 * 1024;

/** A chunk whose client sends nothing for this long is abandoned (so its session can resume). */
const UPLOAD_IDLE_MS = 60_000;

/**
 * The body of a chunk, given up when the client stalls. The idle timer starts with the first
 * read (not while the chunk waits for the one before it) and stops when the answer is sent.
 */
async function* chunkBody(stream: IncomingMessage): AsyncGenerator<Uint8Array> {
  stream.setTimeout(UPLOAD_IDLE_MS, () =>
    stream.destroy(new Error(`no bytes for ${UPLOAD_IDLE_MS / 1000} s`)),
  );
  yield* stream;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (Array.isArray(value)) throw invalid(`${name}: given more than once`);
  return value;
}

function commandOf(request: FastifyRequest): Set<string> {
  const value = header(request, 'x-goog-upload-command');
  return new Set(
    (value ?? '')
      .toLowerCase()
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
  );
}

const isStart = (request: FastifyRequest) =>
  (request.query as Query).upload_id === undefined && commandOf(request).has('start');

async function readJson(stream: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > START_BODY_LIMIT) {
      throw new ApiError(
        'payload_too_large',
        `body: the start request's metadata is larger than ${START_BODY_LIMIT} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid(`body: invalid JSON (${(err as Error).message})`);
  }
}

function parseOffset(request: FastifyRequest): number {
  const value = header(request, 'x-goog-upload-offset');
  if (value === undefined)
    throw invalid('x-goog-upload-offset: required (the byte offset this chunk starts at)');
  if (!/^\d{1,16}$/.test(value.trim()))
    throw invalid(`x-goog-upload-offset: expected a byte offset, got '${value.slice(0, 40)}'`);
  return Number(value.trim());
}

function statusHeaders(reply: FastifyReply, upload: UploadRecord): void {
  reply
    .header('x-goog-upload-status', upload.state)
    .header('x-goog-upload-size-received', String(upload.receivedBytes));
}

/** What the final answer of a finished upload of one route's kind is. */
type FinalBody = (request: FastifyRequest, upload: UploadRecord) => Promise<object>;

/**
 * A chunk, query or cancel for an existing session of `kind` (a session of another kind, or of
 * another store, is not found here). Chunks may come without a key; one that is sent must be
 * the session's project's.
 */
async function continueUpload(
  request: FastifyRequest,
  reply: FastifyReply,
  o: {
    uploads: UploadService;
    keys: Pick<KeyRing, 'authorize'>;
    uploadId: string;
    belongs: (upload: UploadRecord) => boolean;
    finalBody: FinalBody;
  },
) {
  const { uploads, uploadId, finalBody } = o;
  const query = request.query as Query;
  const stream =
    request.body instanceof Readable ? chunkBody(request.body as IncomingMessage) : undefined;
  const hasKey =
    request.headers['x-goog-api-key'] !== undefined ||
    query.key !== undefined ||
    request.headers.authorization !== undefined;
  const project = hasKey ? await o.keys.authorize(request) : undefined;
  if (!o.belongs(await uploads.session(uploadId, project))) {
    throw notFound('upload_id: no such upload session (it may have expired or been cancelled)');
  }
  const command = commandOf(request);
  const [only] = command;
  try {
    if (command.size === 1 && (only === 'query' || only === 'cancel')) {
      if (only === 'cancel') {
        await uploads.cancel(uploadId, project);
        return reply.header('x-goog-upload-status', 'cancelled').send();
      }
      const upload = await uploads.session(uploadId, project);
      statusHeaders(reply, upload);
      return upload.state === 'final' ? await finalBody(request, upload) : reply.send();
    }
    const finalize = command.has('finalize');
    const known = [...command].every((c) => c === 'upload' || c === 'finalize');
    if (command.size === 0 || !known) {
      throw invalid(
        command.size === 0
          ? 'x-goog-upload-command: required (upload, "upload, finalize", query or cancel)'
          : `x-goog-upload-command: '${header(request, 'x-goog-upload-command')!.slice(0, 60)}' is not one of upload, "upload, finalize", finalize, query, cancel`,
      );
    }
    const upload = await uploads.write(uploadId, project, {
      offset: parseOffset(request),
      finalize,
      body: command.has('upload') ? stream : undefined,
    });
    statusHeaders(reply, upload);
    return upload.state === 'final' ? await finalBody(request, upload) : reply.send();
  } catch (err) {
    if (err instanceof UploadStateError) statusHeaders(reply, err.upload);
    throw err;
  }
}

const singleUploadId = (request: FastifyRequest) => single(request.query as Query, 'upload_id');

function uploadProtocol(request: FastifyRequest): string | undefined {
  return header(request, 'x-goog-upload-protocol')?.trim().toLowerCase();
}

function refuseProtocol(protocol: string | undefined, raw: boolean): never {
  throw invalid(
    protocol === undefined
      ? `x-goog-upload-protocol: required (resumable${raw ? ', or raw for a single request' : ''})`
      : `x-goog-upload-protocol: '${protocol.slice(0, 40)}' is not supported (use resumable${raw ? ' or raw' : ''})`,
  );
}

function requireStart(request: FastifyRequest): void {
  if (!commandOf(request).has('start')) {
    throw invalid(
      'x-goog-upload-command: a resumable upload begins with start (then send the bytes to the x-goog-upload-url it returns)',
    );
  }
}

export async function uploadRoutes(scope: FastifyInstance, opts: UploadRoutesOptions) {
  const { files, uploads, keys, version, fileSearch } = opts;

  scope.decorateRequest('project', '');
  scope.removeAllContentTypeParsers();
  // Start requests carry JSON; every other request's body is the file's bytes, left as a stream.
  scope.addContentTypeParser('*', (request, payload, done) => {
    if (!isStart(request)) return done(null, payload);
    readJson(payload).then(
      (value) => done(null, value),
      (err: Error) => done(err, undefined),
    );
  });

  scope.addHook('onSend', async (request) => {
    request.raw.setTimeout(0);
  });

  /** A refused request that left bytes unread: drain a chunk's worth, close beyond that. */
  scope.addHook('onError', async (request, reply) => {
    if (request.raw.complete) return;
    const length = Number(request.headers['content-length'] ?? Infinity);
    if (!(length <= DRAIN_LIMIT)) reply.header('connection', 'close');
  });

  const fileBody: FinalBody = async (request, upload) => {
    const file = await files.get(upload.project, upload.result!.replace(/^files\//, ''));
    return { file: files.toResource(file, requestOrigin(request), version) };
  };

  scope.post('/files', async (request, reply) => {
    const uploadId = singleUploadId(request);
    if (uploadId !== undefined) {
      return continueUpload(request, reply, {
        uploads,
        keys,
        uploadId,
        belongs: (upload) => upload.kind === 'file',
        finalBody: fileBody,
      });
    }
    await keys.authorize(request);
    const protocol = uploadProtocol(request);
    if (protocol === 'resumable') {
      requireStart(request);
      const upload = await files.startUpload(request.project, {
        body: request.body,
        sizeHeader: header(request, 'x-goog-upload-header-content-length'),
        mimeTypeHeader: header(request, 'x-goog-upload-header-content-type'),
      });
      const url = `${requestOrigin(request)}/upload/${version}/files?upload_id=${upload.uploadId}&upload_protocol=resumable`;
      return reply.header('x-goog-upload-url', url).header('x-goog-upload-status', 'active').send();
    }
    if (protocol === 'raw') {
      const upload = await files.startUpload(request.project, {
        body: undefined,
        sizeHeader: header(request, 'content-length'),
        mimeTypeHeader: header(request, 'content-type'),
        raw: true,
      });
      try {
        const done = await uploads.write(upload.uploadId, request.project, {
          offset: 0,
          finalize: true,
          body:
            request.body instanceof Readable
              ? chunkBody(request.body as IncomingMessage)
              : undefined,
        });
        statusHeaders(reply, done);
        return await fileBody(request, done);
      } catch (err) {
        await uploads.cancel(upload.uploadId, request.project).catch(() => {});
        throw err;
      }
    }
    refuseProtocol(protocol, true);
  });

  if (!fileSearch) return;
  const operationBody: FinalBody = async (_request, upload) =>
    fileSearch.toOperationResource(await fileSearch.uploadOperation(upload));

  // §9.3: `uploadToFileSearchStore`, the resumable protocol at the store's own path.
  scope.post('/fileSearchStores/:name', async (request, reply) => {
    const raw = (request.params as { name: string }).name;
    const [storeId = '', method] = raw.split(':', 2);
    if (method !== 'uploadToFileSearchStore') {
      throw notFound(`POST /upload/${version}/fileSearchStores/${raw.slice(0, 80)}: no such route`);
    }
    const uploadId = singleUploadId(request);
    if (uploadId !== undefined) {
      return continueUpload(request, reply, {
        uploads,
        keys,
        uploadId,
        belongs: (upload) => upload.kind === 'document' && upload.target.storeId === storeId,
        finalBody: operationBody,
      });
    }
    await keys.authorize(request);
    const protocol = uploadProtocol(request);
    if (protocol !== 'resumable') refuseProtocol(protocol, false);
    requireStart(request);
    const upload = await fileSearch.startUpload(request.project, storeId, {
      body: request.body,
      sizeHeader: header(request, 'x-goog-upload-header-content-length'),
      mimeTypeHeader: header(request, 'x-goog-upload-header-content-type'),
      fileNameHeader: header(request, 'x-goog-upload-file-name'),
    });
    const url = `${requestOrigin(request)}/upload/${version}/fileSearchStores/${storeId}:uploadToFileSearchStore?upload_id=${upload.uploadId}&upload_protocol=resumable`;
    return reply.header('x-goog-upload-url', url).header('x-goog-upload-status', 'active').send();
  });
}
