/** The formats read today; a new one is a module in `formats/` plus an entry in its list. */
export type DocumentFormat = 'html' | 'pdf' | 'docx' | 'json' | 'text';

/** One document to read. */
export interface DocumentInput {
  bytes: Uint8Array;
  /** The declared type (`content-type` header or upload type), parameters allowed; '' if unknown. */
  mimeType: string;
  /** The bytes are only the first part of a longer document (a download cut at its size cap). */
  truncated?: boolean;
  /** Stop reading once this much text is collected (formats that read in parts, such as PDF). */
  maxChars?: number;
  /** Pages read at most (paged formats). */
  maxPages?: number;
}

export interface DocumentPage {
  /** 1-based, as the document numbers its pages. */
  pageNumber: number;
  text: string;
}

/** What a document says, as text. */
export interface ParsedDocument {
  format: DocumentFormat;
  title?: string;
  text: string;
  /** Paged formats (PDF): the text of each page that has any; `text` is these joined. */
  pages?: DocumentPage[];
  /** The page declares itself as not freely accessible (schema.org `isAccessibleForFree: false`). */
  paywalled?: boolean;
}

/** Reads one format; runs inside a parser process. */
export interface FormatReader {
  readonly format: DocumentFormat;
  /** Whether a declared MIME type (lower case, no parameters) is this format. */
  accepts(mimeType: string): boolean;
  /** Whether undeclared bytes look like this format (the first 4 KiB). */
  sniff(head: Uint8Array): boolean;
  /** Loads what the reader needs once per process (not counted against a document's time cap). */
  load?(): Promise<void>;
  read(input: DocumentInput): ParsedDocument | Promise<ParsedDocument>;
}
