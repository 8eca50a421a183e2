import type { DocumentFormat, FormatReader } from '../types.js';
import { docxReader } from './docx.js';
import { htmlReader } from './html.js';
import { jsonReader } from './json.js';
import { pdfReader } from './pdf.js';
import { textReader } from './text.js';

/**
 * Every format, in the order they are tried: a declared type picks the first reader that
 * accepts it; undeclared bytes (no type, `application/octet-stream`) the first whose sniff
 * matches. A new format is a reader module added here.
 */
export const READERS: readonly FormatReader[] = [
  htmlReader,
  pdfReader,
  docxReader,
  jsonReader,
  textReader,
];

const VAGUE_TYPES = new Set(['', 'application/octet-stream', 'binary/octet-stream']);

/** The reader for a document, or undefined when no format fits. */
export function readerFor(mimeType: string, bytes: Uint8Array): FormatReader | undefined {
  const mime = mimeType.split(';')[0]!.trim().toLowerCase();
  if (!VAGUE_TYPES.has(mime)) return READERS.find((r) => r.accepts(mime));
  const head = bytes.subarray(0, 4096);
  return READERS.find((r) => r.sniff(head));
}

/** The format a document would be read as (cheap: looks at the type and the first 4 KiB). */
export function detectFormat(mimeType: string, bytes: Uint8Array): DocumentFormat | undefined {
  return readerFor(mimeType, bytes)?.format;
}
