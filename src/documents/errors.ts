/**
 * Why a document could not be read. One class with a `kind`, branded so it is recognised across
 * module copies (`DocumentError.isInstance`), and built from a plain `{ kind, message }` when it
 * crosses from a parser process.
 */

export type DocumentErrorKind =
  /** Bigger than a limit: bytes, or a document cut short that its format cannot read partly. */
  | 'too_large'
  /** Parsing took longer than the time cap; the parser process was stopped. */
  | 'timed_out'
  /** Parsing needed more than the memory cap; the parser process died or was stopped. */
  | 'out_of_memory'
  /** Not a format this module reads. */
  | 'unsupported'
  /** The bytes are not a valid document of their format. */
  | 'corrupt'
  /** Every parser is busy and the queue is full; try again later. */
  | 'busy'
  /** The parser process stopped for another reason (killed, crashed, failed to start). */
  | 'crashed'
  /** The parser was closed (server shutdown). */
  | 'closed';

const BRAND = Symbol.for('open-interactions.document-error');

export class DocumentError extends Error {
  readonly [BRAND] = true;
  readonly kind: DocumentErrorKind;

  constructor(kind: DocumentErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DocumentError';
    this.kind = kind;
  }

  static isInstance(value: unknown, kind?: DocumentErrorKind): value is DocumentError {
    return (
      typeof value === 'object' &&
      value !== null &&
      BRAND in value &&
      (kind === undefined || (value as DocumentError).kind === kind)
    );
  }
}
