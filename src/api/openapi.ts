/**
 * The OpenAPI 3.1 document of this server (`GET /openapi.json`), generated from the zod schemas
 * that also validate requests and type responses (src/protocol/), with zod's own JSON Schema
 * converter (`z.toJSONSchema`, JSON Schema 2020-12, which OpenAPI 3.1 uses as is).
 *
 * `OPERATIONS` is the route table: each route mounted under `/{v}` (v1 and v1beta), `/upload/{v}`
 * or at the root declares its body and answers here; a test checks it against the routes the
 * server registers, so a new route without an entry fails CI.
 */
import { z } from 'zod';
import { fileResourceSchema, listFilesResponseSchema } from '../protocol/files.js';
import { listModelsResponseSchema, modelResourceSchema } from '../protocol/models.js';
import {
  contentSchema,
  createBodySchema,
  errorEnvelopeSchema,
  interactionEventSchema,
  interactionSchema,
  jsonValueSchema,
  stepSchema,
  usageSchema,
} from '../protocol/schemas.js';
import { API_REVISION } from '../protocol/types.js';
import {
  rotateSigningSecretResponseSchema,
  webhookInputSchema,
  webhookListResponseSchema,
  webhookResourceSchema,
  webhookUpdateSchema,
} from '../protocol/webhooks.js';
import { API_VERSIONS } from './versions.js';

/** Components of the document, by name (`#/components/schemas/{name}`). */
const components = z.registry<{ id: string; description?: string }>();

const register = <T extends z.ZodType>(schema: T, id: string, description?: string): T => {
  components.add(schema, { id, ...(description ? { description } : {}) });
  return schema;
};

register(jsonValueSchema, 'JsonValue', 'Any JSON value');
register(contentSchema, 'Content', 'A content item: text, or media by inline data or uri');
register(stepSchema, 'Step', 'A step of an interaction; `type` discriminates');
register(usageSchema, 'Usage');
const Interaction = register(interactionSchema, 'Interaction');
const InteractionEvent = register(
  interactionEventSchema,
  'InteractionEvent',
  'One SSE `data:` payload of a streamed interaction',
);
const ErrorEnvelope = register(errorEnvelopeSchema, 'Error', 'The error envelope of every non-2xx');
const CreateInteraction = register(
  createBodySchema.extend({
    input: z
      .union([z.string(), contentSchema, z.array(contentSchema), z.array(stepSchema)])
      .optional(),
    tools: z
      .array(z.looseObject({ type: z.string() }))
      .optional()
      .describe('function tools and built-in tools (google_search, url_context, mcp_server, …)'),
    response_format: z
      .union([z.looseObject({ type: z.string() }), z.array(z.looseObject({ type: z.string() }))])
      .optional(),
  }),
  'CreateInteractionRequest',
);
const Model = register(modelResourceSchema, 'Model');
const ListModels = register(listModelsResponseSchema, 'ListModelsResponse');
const File = register(fileResourceSchema, 'File');
const ListFiles = register(listFilesResponseSchema, 'ListFilesResponse');
/** Resources whose wire types are not zod schemas yet: documented as JSON objects. */
const Resource = register(z.looseObject({}), 'Resource', 'A JSON object (see the README)');
const Empty = register(z.object({}), 'Empty');
const Webhook = register(webhookResourceSchema, 'Webhook');
const WebhookInput = register(webhookInputSchema, 'WebhookInput');
const WebhookUpdate = register(webhookUpdateSchema, 'WebhookUpdate');
const WebhookList = register(webhookListResponseSchema, 'WebhookListResponse');
const RotateResponse = register(
  rotateSigningSecretResponseSchema,
  'WebhookRotateSigningSecretResponse',
);

type Method = 'get' | 'post' | 'patch' | 'delete';

export interface Operation {
  method: Method;
  /** Fastify's path below the mount point (`/interactions/:id`). */
  path: string;
  mount: 'version' | 'upload' | 'root';
  summary: string;
  tag: string;
  body?: z.ZodType;
  /** The 200 answer (JSON), or text for non-JSON routes. */
  response: z.ZodType | { contentType: string };
  /** Streams `text/event-stream` of these payloads as well (stream: true, ?alt=sse). */
  stream?: boolean;
  query?: string[];
  /** Without the API key (probes, metrics, this document). */
  open?: boolean;
}

export const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/interactions',
    mount: 'version',
    tag: 'Interactions',
    summary: 'Create an interaction (streams with "stream": true or ?alt=sse)',
    body: CreateInteraction,
    response: Interaction,
    stream: true,
    query: ['alt'],
  },
  {
    method: 'get',
    path: '/interactions/:id',
    mount: 'version',
    tag: 'Interactions',
    summary: 'Get an interaction (stream=true replays and follows its events)',
    response: Interaction,
    stream: true,
    query: ['stream', 'last_event_id', 'include_input'],
  },
  {
    method: 'delete',
    path: '/interactions/:id',
    mount: 'version',
    tag: 'Interactions',
    summary: 'Delete an interaction',
    response: Empty,
  },
  {
    method: 'post',
    path: '/interactions/:id/cancel',
    mount: 'version',
    tag: 'Interactions',
    summary: 'Cancel a background interaction',
    response: Interaction,
  },
  {
    method: 'get',
    path: '/models',
    mount: 'version',
    tag: 'Models',
    summary: 'List the configured models and aliases',
    response: ListModels,
    query: ['pageSize', 'pageToken'],
  },
  {
    method: 'get',
    path: '/models/:name',
    mount: 'version',
    tag: 'Models',
    summary: 'Get a model by name (globs resolve concrete names)',
    response: Model,
  },
  {
    method: 'get',
    path: '/files',
    mount: 'version',
    tag: 'Files',
    summary: 'List files',
    response: ListFiles,
    query: ['pageSize', 'pageToken'],
  },
  {
    method: 'get',
    path: '/files/:name',
    mount: 'version',
    tag: 'Files',
    summary: 'Get a file',
    response: File,
  },
  {
    method: 'delete',
    path: '/files/:name',
    mount: 'version',
    tag: 'Files',
    summary: 'Delete a file',
    response: Empty,
  },
  {
    method: 'post',
    path: '/files',
    mount: 'upload',
    tag: 'Files',
    summary: 'Upload a file (resumable protocol, X-Goog-Upload-* headers)',
    response: Resource,
  },
  ...(
    [
      ['post', '/fileSearchStores', 'Create a file search store'],
      ['get', '/fileSearchStores', 'List file search stores'],
      ['get', '/fileSearchStores/:store', 'Get a file search store'],
      ['delete', '/fileSearchStores/:store', 'Delete a file search store'],
      [
        'post',
        '/fileSearchStores/:store',
        'importFile into a store (fileSearchStores/{id}:importFile)',
      ],
      ['get', '/fileSearchStores/:store/documents', 'List documents of a store'],
      ['get', '/fileSearchStores/:store/documents/:document', 'Get a document'],
      ['delete', '/fileSearchStores/:store/documents/:document', 'Delete a document'],
      ['get', '/fileSearchStores/:store/operations/:operation', 'Get an import operation'],
      ['get', '/fileSearchStores/:store/upload/operations/:operation', 'Get an upload operation'],
    ] as const
  ).map(([method, path, summary]): Operation => ({
    method,
    path,
    mount: 'version',
    tag: 'File Search stores',
    summary,
    response: method === 'delete' ? Empty : Resource,
  })),
  {
    method: 'post',
    path: '/fileSearchStores/:name',
    mount: 'upload',
    tag: 'File Search stores',
    summary: 'uploadToFileSearchStore (resumable protocol)',
    response: Resource,
  },
  ...(
    [
      ['post', '/agents', 'Create a custom agent'],
      ['get', '/agents', 'List custom agents'],
      ['get', '/agents/:id', 'Get a custom agent'],
      ['delete', '/agents/:id', 'Delete a custom agent'],
    ] as const
  ).map(([method, path, summary]): Operation => ({
    method,
    path,
    mount: 'version',
    tag: 'Agents',
    summary,
    response: method === 'delete' ? Empty : Resource,
  })),
  {
    method: 'post',
    path: '/webhooks',
    mount: 'version',
    tag: 'Webhooks',
    summary: 'Create a webhook (the answer carries new_signing_secret, shown once)',
    body: WebhookInput,
    response: Webhook,
  },
  {
    method: 'get',
    path: '/webhooks',
    mount: 'version',
    tag: 'Webhooks',
    summary: 'List webhooks',
    response: WebhookList,
    query: ['page_size', 'page_token'],
  },
  {
    method: 'get',
    path: '/webhooks/:id',
    mount: 'version',
    tag: 'Webhooks',
    summary: 'Get a webhook',
    response: Webhook,
  },
  {
    method: 'patch',
    path: '/webhooks/:id',
    mount: 'version',
    tag: 'Webhooks',
    summary: 'Update a webhook (name, uri, subscribed_events, state)',
    body: WebhookUpdate,
    response: Webhook,
    query: ['update_mask'],
  },
  {
    method: 'delete',
    path: '/webhooks/:id',
    mount: 'version',
    tag: 'Webhooks',
    summary: 'Delete a webhook',
    response: Empty,
  },
  {
    method: 'post',
    path: '/webhooks/:id',
    mount: 'version',
    tag: 'Webhooks',
    summary:
      'webhooks/{id}:ping (queues a webhook.ping delivery; answers {}) or webhooks/{id}:rotateSigningSecret (answers {secret})',
    response: RotateResponse,
  },
  {
    method: 'get',
    path: '/healthz',
    mount: 'root',
    tag: 'Operations',
    summary: 'Liveness',
    response: Resource,
    open: true,
  },
  {
    method: 'get',
    path: '/readyz',
    mount: 'root',
    tag: 'Operations',
    summary: 'Readiness (503 while draining or without the store)',
    response: Resource,
    open: true,
  },
  {
    method: 'get',
    path: '/metrics',
    mount: 'root',
    tag: 'Operations',
    summary: 'Prometheus metrics (bearer token metrics.token when configured)',
    response: { contentType: 'text/plain; version=0.0.4' },
    open: true,
  },
  {
    method: 'get',
    path: '/openapi.json',
    mount: 'root',
    tag: 'Operations',
    summary: 'This document',
    response: { contentType: 'application/json' },
    open: true,
  },
  {
    method: 'get',
    path: '/docs',
    mount: 'root',
    tag: 'Operations',
    summary: 'A reference page rendering this document',
    response: { contentType: 'text/html' },
    open: true,
  },
  {
    method: 'get',
    path: '/',
    mount: 'root',
    tag: 'Operations',
    summary: 'The playground page (also at /playground/, with its script and style sheet)',
    response: { contentType: 'text/html' },
    open: true,
  },
  {
    method: 'get',
    path: '/admin/usage',
    mount: 'root',
    tag: 'Operations',
    summary:
      'Usage per project, key, model and day (Bearer admin.token; query project, since, until, format json|csv; served only when admin.token is set)',
    response: Resource,
    open: true,
  },
];

/** The full paths (Fastify syntax) one operation is served at. */
export function servedPaths(op: Operation): string[] {
  if (op.mount === 'root') return [op.path];
  return API_VERSIONS.map((v) =>
    op.mount === 'upload' ? `/upload/${v}${op.path}` : `/${v}${op.path}`,
  );
}

const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');
const ref = (schema: z.ZodType) => {
  const id = components.get(schema)?.id;
  if (!id) throw new Error('openapi: an operation names a schema that is not registered');
  return { $ref: `#/components/schemas/${id}` };
};

function operationObject(op: Operation, path: string, version: string | undefined) {
  const params = [...path.matchAll(/:(\w+)/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const query = (op.query ?? []).map((name) => ({
    name,
    in: 'query',
    required: false,
    schema: { type: 'string' },
  }));
  const json =
    'contentType' in op.response
      ? { [op.response.contentType]: { schema: { type: 'string' } } }
      : {
          'application/json': { schema: ref(op.response) },
          ...(op.stream
            ? {
                'text/event-stream': {
                  schema: { type: 'string' },
                  'x-event-schema': ref(InteractionEvent),
                },
              }
            : {}),
        };
  return {
    operationId: `${op.method}${(version ? `_${version}` : '') + path.replace(/[^A-Za-z0-9]+/g, '_')}`,
    summary: op.summary,
    tags: [op.tag],
    ...(op.open ? { security: [] } : {}),
    ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref(op.body) } },
          },
        }
      : {}),
    responses: {
      '200': { description: 'OK', content: json },
      default: {
        description: 'An error (the status names it)',
        content: { 'application/json': { schema: ref(ErrorEnvelope) } },
      },
    },
  };
}

let cached: object | undefined;

/** The document; built once (it depends on nothing configured). */
export function openApiDocument(): object {
  if (cached) return cached;
  const { schemas } = z.toJSONSchema(components, {
    target: 'draft-2020-12',
    io: 'output',
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  });
  // Components are addressed by their place in the document, not by an `$id` of their own.
  for (const schema of Object.values(schemas)) {
    delete (schema as { $schema?: string }).$schema;
    delete (schema as { $id?: string }).$id;
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    for (const path of servedPaths(op)) {
      const version = API_VERSIONS.find((v) => path.includes(`/${v}/`));
      (paths[toOpenApiPath(path)] ??= {})[op.method] = operationObject(op, path, version);
    }
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Open Interactions',
      version: API_REVISION,
      description:
        'A self-hosted server for the Gemini Interactions API (revision 2026-05-20). ' +
        'Served identically under /v1 and /v1beta.',
    },
    servers: [{ url: '/' }],
    security: [{ apiKeyHeader: [] }, { apiKeyQuery: [] }, { bearer: [] }],
    tags: [
      'Interactions',
      'Models',
      'Files',
      'File Search stores',
      'Agents',
      'Webhooks',
      'Operations',
    ].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'x-goog-api-key' },
        apiKeyQuery: { type: 'apiKey', in: 'query', name: 'key' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
  };
  return cached;
}
