/**
 * Wire types of File Search stores, their documents and the long-running operations that
 * ingest them (spec §9.3), camelCase with int64 counts as strings, exactly as `@google/genai`'s
 * `FileSearchStore`, `Document`, `ImportFileOperation` and `UploadToFileSearchStoreOperation`.
 */
import { z } from 'zod';
import type { FileStatus } from './files.js';

export interface FileSearchStoreResource {
  /** `fileSearchStores/{id}` */
  name: string;
  displayName?: string;
  /** `models/{name}`: the embedding model every document and query of the store uses. */
  embeddingModel?: string;
  createTime: string;
  updateTime: string;
  activeDocumentsCount: string;
  pendingDocumentsCount: string;
  failedDocumentsCount: string;
  /** Bytes of the documents ingested (active). */
  sizeBytes: string;
}

export type DocumentState = 'STATE_PENDING' | 'STATE_ACTIVE' | 'STATE_FAILED';

export interface DocumentResource {
  /** `fileSearchStores/{s}/documents/{d}` */
  name: string;
  displayName?: string;
  mimeType: string;
  sizeBytes: string;
  state: DocumentState;
  customMetadata?: CustomMetadataEntry[];
  createTime: string;
  updateTime: string;
}

/** Progress of an ingestion, in an Operation's `metadata`. */
export interface IngestionMetadata {
  documentName: string;
  /** QUEUED → PARSING → EMBEDDING → DONE, or FAILED. */
  stage: IngestionStage;
  /** Known once the document is parsed (int64 strings). */
  chunksTotal?: string;
  chunksEmbedded?: string;
  createTime: string;
  updateTime: string;
}

export type IngestionStage = 'QUEUED' | 'PARSING' | 'EMBEDDING' | 'DONE' | 'FAILED';

export const IMPORT_RESPONSE_TYPE =
  'type.googleapis.com/google.ai.generativelanguage.v1beta.ImportFileResponse';
export const UPLOAD_RESPONSE_TYPE =
  'type.googleapis.com/google.ai.generativelanguage.v1beta.UploadToFileSearchStoreResponse';

export interface OperationResource {
  /** `fileSearchStores/{s}/operations/{op}` (imports) or `…/upload/operations/{op}` (uploads). */
  name: string;
  done: boolean;
  metadata?: IngestionMetadata;
  error?: FileStatus;
  response?: {
    '@type': string;
    parent: string;
    documentName: string;
  };
}

export interface ListFileSearchStoresResponse {
  fileSearchStores?: FileSearchStoreResource[];
  nextPageToken?: string;
}

export interface ListDocumentsResponse {
  documents?: DocumentResource[];
  nextPageToken?: string;
}

/** Store and document ids: like file ids, up to 40 of `[a-z0-9-]`, no dash at either end. */
export const RESOURCE_ID = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

export const MAX_CUSTOM_METADATA = 20;
const MAX_KEY = 256;
const MAX_STRING_VALUE = 1024;
const MAX_LIST_VALUES = 100;

/** Whitespace chunking: Google's bounds (at most 512 words per chunk) and our defaults. */
export const CHUNKING = {
  maxTokensPerChunk: { min: 1, max: 512, default: 200 },
  maxOverlapTokens: { default: 20 },
} as const;

const customMetadataEntry = z
  .strictObject({
    key: z.string().min(1, 'must not be empty').max(MAX_KEY, `longer than ${MAX_KEY} characters`),
    stringValue: z
      .string()
      .max(MAX_STRING_VALUE, `longer than ${MAX_STRING_VALUE} characters`)
      .optional(),
    numericValue: z.number().refine(Number.isFinite, 'must be a finite number').optional(),
    stringListValue: z
      .strictObject({
        values: z
          .array(z.string().max(MAX_STRING_VALUE, `longer than ${MAX_STRING_VALUE} characters`))
          .max(MAX_LIST_VALUES, `more than ${MAX_LIST_VALUES} values`),
      })
      .optional(),
  })
  .superRefine((entry, ctx) => {
    const given = [entry.stringValue, entry.numericValue, entry.stringListValue].filter(
      (v) => v !== undefined,
    ).length;
    if (given !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `needs exactly one of stringValue, numericValue, stringListValue (got ${given})`,
      });
    }
  });

export type CustomMetadataEntry = z.infer<typeof customMetadataEntry>;

export const customMetadataSchema = z
  .array(customMetadataEntry)
  .max(MAX_CUSTOM_METADATA, `more than ${MAX_CUSTOM_METADATA} entries`)
  .superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      if (seen.has(entry.key)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'key'],
          message: `'${entry.key.slice(0, 80)}' is given more than once`,
        });
      }
      seen.add(entry.key);
    });
  });

const { maxTokensPerChunk: TOKENS } = CHUNKING;

export const chunkingConfigSchema = z
  .strictObject({
    whiteSpaceConfig: z
      .strictObject({
        maxTokensPerChunk: z
          .number()
          .int()
          .min(TOKENS.min, `must be at least ${TOKENS.min}`)
          .max(TOKENS.max, `must be at most ${TOKENS.max}`)
          .optional(),
        maxOverlapTokens: z.number().int().min(0, 'must not be negative').optional(),
      })
      .superRefine((config, ctx) => {
        const max = config.maxTokensPerChunk ?? TOKENS.default;
        if (config.maxOverlapTokens !== undefined && config.maxOverlapTokens >= max) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxOverlapTokens'],
            message: `must be less than maxTokensPerChunk (${max})`,
          });
        }
      })
      .optional(),
  })
  .optional();

export type ChunkingConfig = z.infer<typeof chunkingConfigSchema>;

const displayName = z.string().max(512, 'longer than 512 characters');

/** `POST /{v}/fileSearchStores` (the SDK sends `embeddingModel` as `models/…`). */
export const createStoreSchema = z.strictObject({
  displayName: displayName.optional(),
  embeddingModel: z.string().min(1, 'must not be empty').max(256).optional(),
});

/** The JSON body of a resumable `uploadToFileSearchStore` start request. */
export const startDocumentUploadSchema = z.strictObject({
  mimeType: z.string().min(1).max(255).optional(),
  displayName: displayName.optional(),
  customMetadata: customMetadataSchema.optional(),
  chunkingConfig: chunkingConfigSchema,
});

/** `POST /{v}/fileSearchStores/{id}:importFile` */
export const importFileSchema = z.strictObject({
  fileName: z.string().min(1, 'must not be empty'),
  customMetadata: customMetadataSchema.optional(),
  chunkingConfig: chunkingConfigSchema,
});
