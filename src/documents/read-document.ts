import { DocumentError } from './errors.js';
import { readerFor } from './formats/index.js';
import type { DocumentInput, ParsedDocument } from './types.js';

/**
 * Reads one document in this process: picks the format's reader and turns what it throws into
 * a DocumentError. The parser processes run this; call it directly only on trusted input (it
 * has no time or memory cap of its own).
 */
export async function readDocument(
  input: DocumentInput,
  /** Called once the reader is loaded, when reading the document itself starts. */
  onReading?: () => void,
): Promise<ParsedDocument> {
  const reader = readerFor(input.mimeType, input.bytes);
  if (!reader) throw unsupported(input.mimeType);
  try {
    await reader.load?.();
    onReading?.();
    return await reader.read(input);
  } catch (error) {
    throw asDocumentError(error, reader.format);
  }
}

export function unsupported(mimeType: string): DocumentError {
  const mime = mimeType.split(';')[0]!.trim();
  return new DocumentError('unsupported', `unsupported content type ${mime || '(none)'}`);
}

/**
 * V8 reports its own limits as RangeErrors, told apart only by their messages: a failed
 * ArrayBuffer allocation (the process's data limit), a string or array past V8's maximum
 * length, a stack overflow (nesting deeper than the reader's recursion).
 */
function asDocumentError(error: unknown, format: string): DocumentError {
  if (DocumentError.isInstance(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RangeError) {
    if (/allocation failed/i.test(message)) {
      return new DocumentError('out_of_memory', 'reading it needed more memory than allowed', {
        cause: error,
      });
    }
    if (/invalid (string|array|typed array) length/i.test(message)) {
      return new DocumentError('too_large', 'its text is too large to hold', { cause: error });
    }
    if (/call stack/i.test(message)) {
      return new DocumentError('too_large', 'it is nested too deeply to read', { cause: error });
    }
  }
  return new DocumentError(
    'corrupt',
    `could not read the ${format.toUpperCase()} document: ${message}`,
    {
      cause: error,
    },
  );
}
