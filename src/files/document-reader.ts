/**
 * File Search reads documents through the parser pool (src/documents): off the event loop, each
 * under a time and memory cap. This adapter decides which of the pool's failures are the
 * document's (it ends STATE_FAILED with the reason) and which are passing (the document stays
 * pending and is tried again).
 */
import { DocumentError, detectFormat, type DocumentParser } from '../documents/index.js';
import { IngestionError, RPC, type DocumentReader } from './ingestion-ports.js';

/** Pages of one PDF read for indexing (the chunk limit per document bounds the work anyway). */
const MAX_PAGES = 100_000;

const EMPTY = new Uint8Array(0);

/** google.rpc codes for the pool's failures; the passing ones are retried. */
const FAILURES: Record<DocumentError['kind'], { code: number; retryable: boolean }> = {
  unsupported: { code: RPC.INVALID_ARGUMENT, retryable: false },
  corrupt: { code: RPC.INVALID_ARGUMENT, retryable: false },
  too_large: { code: RPC.RESOURCE_EXHAUSTED, retryable: false },
  out_of_memory: { code: RPC.RESOURCE_EXHAUSTED, retryable: false },
  timed_out: { code: 4 /* DEADLINE_EXCEEDED */, retryable: false },
  busy: { code: RPC.UNAVAILABLE, retryable: true },
  crashed: { code: RPC.INTERNAL, retryable: true },
  closed: { code: RPC.UNAVAILABLE, retryable: true },
};

export function createDocumentReader(parser: DocumentParser): DocumentReader {
  return {
    // A declared type is checked by name; a vague one is accepted (its bytes decide later).
    accepts: (mimeType) => detectFormat(mimeType, EMPTY) !== undefined,
    async read(input, { signal }) {
      try {
        return await parser.parse({ ...input, maxPages: MAX_PAGES }, { signal });
      } catch (err) {
        if (!DocumentError.isInstance(err)) throw err;
        const { code, retryable } = FAILURES[err.kind];
        throw new IngestionError(err.message, retryable, code, { cause: err });
      }
    },
  };
}
