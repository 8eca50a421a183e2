import type { DocumentErrorKind } from './errors.js';
import type { DocumentInput, ParsedDocument } from './types.js';

/** Messages between the pool and a parser process (IPC, `advanced` serialization). */

/** Pool → parser: read one document. A parser reads one at a time. */
export interface ParseRequest {
  id: number;
  input: DocumentInput;
}

/** Parser → pool. */
export type ParserMessage =
  | { type: 'ready' }
  /** The reader is loaded; the document's time cap starts again from here. */
  | { type: 'reading'; id: number }
  | { type: 'parsed'; id: number; document: ParsedDocument }
  | { type: 'failed'; id: number; error: { kind: DocumentErrorKind; message: string } };
