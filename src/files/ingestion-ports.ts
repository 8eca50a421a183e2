/**
 * What File Search ingestion needs from the rest of the server, as small interfaces: reading a
 * document's text (the parser pool, `src/documents`), embedding passages (the embedding
 * registry, `src/models/embeddings`) and the search index (`src/store/search-index`). The
 * server wires the real ones (server.ts); ingestion and the API depend only on these.
 */

/** A document's text as the parser read it; paged formats (PDF) carry their pages. */
export interface ReadDocument {
  title?: string;
  text: string;
  pages?: Array<{ pageNumber: number; text: string }>;
}

export interface DocumentReader {
  /**
   * Whether documents declared as `mimeType` can be read at all. A vague type
   * (`application/octet-stream`) is accepted: the bytes decide when they are read.
   */
  accepts(mimeType: string): boolean;
  /**
   * Reads a document's text off the event loop. A document that cannot be read fails with an
   * `IngestionError` (not retryable: corrupt, unsupported, too large…; retryable: the pool was
   * busy or shutting down).
   */
  read(
    input: { bytes: Uint8Array; mimeType: string },
    options: { signal: AbortSignal },
  ): Promise<ReadDocument>;
}

export interface ResolvedEmbeddingModel {
  /** The name a store remembers and shows as `embeddingModel` (`models/…`). */
  publicName: string;
  /** Known ahead for some backends; otherwise learnt from the first embeddings. */
  dimensions?: number;
}

export interface EmbeddingModels {
  /** The model `name` selects (`models/x` or `x`; undefined: the default), or undefined. */
  resolve(name: string | undefined): ResolvedEmbeddingModel | undefined;
  /** Embeds document passages with a store's model, one vector per text, in order. */
  embedDocuments(
    publicName: string,
    texts: string[],
    options: { signal: AbortSignal },
  ): Promise<ArrayLike<number>[]>;
}

const BRAND = Symbol.for('open-interactions.ingestion-error');

/**
 * Why a document could not be ingested. `retryable` errors (a busy parser pool, an embedding
 * backend that is down) leave the document pending for another attempt; the others fail it
 * with `message` as the reason its operation reports.
 */
export class IngestionError extends Error {
  readonly [BRAND] = true;

  constructor(
    message: string,
    readonly retryable: boolean,
    /** The google.rpc code of the operation's error (3 INVALID_ARGUMENT by default). */
    readonly rpcCode = 3,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IngestionError';
  }

  static isInstance(value: unknown): value is IngestionError {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}

/** google.rpc codes an Operation's error carries. */
export const RPC = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
