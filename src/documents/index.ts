/**
 * Documents → text, off the server's event loop (design §4). HTML (readable text), PDF (with
 * page numbers), JSON and plain text today; a new format is a reader in `formats/`.
 *
 *   const parser = createDocumentParser({ timeoutMs: 10_000, memoryMb: 256 });
 *   const doc = await parser.parse({ bytes, mimeType: 'application/pdf' }, { signal });
 *   // → { format: 'pdf', title?, text, pages: [{ pageNumber, text }] }
 *   await parser.close();
 *
 * Failures are `DocumentError`s with a `kind` (too_large, timed_out, out_of_memory,
 * unsupported, corrupt, busy, crashed, closed); a cancelled `signal` rejects with its reason.
 * This module is a leaf: it imports nothing from the rest of the server.
 */
import { DocumentError } from './errors.js';
import { readerFor } from './formats/index.js';
import { ParserPool, type PoolLimits, type PoolStats } from './pool.js';
import { unsupported } from './read-document.js';
import type { DocumentInput, ParsedDocument } from './types.js';

export { DocumentError, type DocumentErrorKind } from './errors.js';
export { detectFormat } from './formats/index.js';
export type { PoolStats as DocumentParserStats } from './pool.js';
export type { DocumentFormat, DocumentInput, DocumentPage, ParsedDocument } from './types.js';

export interface DocumentParserOptions extends Partial<PoolLimits> {
  /** Largest document accepted, in bytes (default 64 MiB). */
  maxBytes?: number;
}

export interface DocumentParser {
  /** Reads one document in a parser process. */
  parse(input: DocumentInput, options?: { signal?: AbortSignal }): Promise<ParsedDocument>;
  stats(): PoolStats;
  /** Ends every parser process; documents not yet read fail with kind `closed`. */
  close(): Promise<void>;
}

const DEFAULT_LIMITS: Readonly<Required<DocumentParserOptions>> = {
  workers: 2,
  queue: 16,
  timeoutMs: 10_000,
  memoryMb: 256,
  idleMs: 30_000,
  maxBytes: 64 * 1024 * 1024,
};

/** A pool of parser processes; they start on first use. */
export function createDocumentParser(options: DocumentParserOptions = {}): DocumentParser {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const { maxBytes, ...limits } = { ...DEFAULT_LIMITS, ...defined };
  const pool = new ParserPool(limits);
  return {
    parse(input, { signal } = {}) {
      if (input.bytes.byteLength > maxBytes) {
        return Promise.reject(
          new DocumentError(
            'too_large',
            `it is ${input.bytes.byteLength} bytes; at most ${maxBytes} are read`,
          ),
        );
      }
      // Unknown types are refused here, without a round trip to a parser.
      if (!readerFor(input.mimeType, input.bytes)) {
        return Promise.reject(unsupported(input.mimeType));
      }
      return pool.run(input, signal);
    },
    stats: () => pool.stats(),
    close: () => pool.close(),
  };
}
