import { DocumentError } from '../errors.js';
import type { DocumentPage, FormatReader, ParsedDocument } from '../types.js';
import { latin1, tidy } from './decode.js';

/** Pages read when the caller sets no `maxPages`. */
const DEFAULT_MAX_PAGES = 1_000;

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjsPromise: Promise<PdfJs> | undefined;

/** Loads pdf.js with its worker running in this thread (the parser process; no network). */
function loadPdfJs(): Promise<PdfJs> {
  pdfjsPromise ??= (async () => {
    // The worker module ships without types; a variable specifier keeps tsc from asking for them.
    const workerModule = 'pdfjs-dist/legacy/build/pdf.worker.mjs';
    const worker: unknown = await import(workerModule);
    (globalThis as { pdfjsWorker?: unknown }).pdfjsWorker ??= worker;
    return import('pdfjs-dist/legacy/build/pdf.mjs');
  })();
  return pdfjsPromise;
}

/** pdf.js names the errors of a broken file; anything else is a fault of ours. */
const BROKEN_PDF = new Set([
  'InvalidPDFException',
  'FormatError',
  'MissingPDFException',
  'UnexpectedResponseException',
  'UnknownErrorException',
]);

/** PDF → title (document info) and the text of each page, stopping at `maxChars` / `maxPages`. */
async function readPdf(
  bytes: Uint8Array,
  maxChars = Infinity,
  maxPages = DEFAULT_MAX_PAGES,
): Promise<ParsedDocument> {
  const pdfjs = await loadPdfJs();
  const task = pdfjs.getDocument({
    // pdf.js takes ownership of (and may detach) the buffer it is given
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    useWorkerFetch: false,
    stopAtErrors: false,
    verbosity: 0,
  });
  try {
    const pdf = await task.promise.catch((error: unknown) => {
      const name = (error as Error | undefined)?.name ?? '';
      if (BROKEN_PDF.has(name) || name === 'PasswordException') {
        const why =
          name === 'PasswordException' ? 'it is password-protected' : (error as Error).message;
        throw new DocumentError('corrupt', `not a readable PDF: ${why}`, { cause: error });
      }
      throw error;
    });
    let title: string | undefined;
    try {
      const meta = await pdf.getMetadata();
      const info = meta.info as { Title?: unknown };
      if (typeof info.Title === 'string' && info.Title.trim()) title = info.Title.trim();
    } catch {
      // Metadata is optional.
    }
    const pages: DocumentPage[] = [];
    let length = 0;
    const count = Math.min(pdf.numPages, maxPages);
    for (let pageNumber = 1; pageNumber <= count && length < maxChars; pageNumber++) {
      const page = await pdf.getPage(pageNumber);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items) {
        if (!('str' in item)) continue;
        text += item.str;
        if (item.hasEOL) text += '\n';
        else if (item.str && !item.str.endsWith(' ')) text += ' ';
      }
      page.cleanup();
      const cleaned = tidy(text.replace(/ +\n/g, '\n').replace(/ {2,}/g, ' '));
      if (cleaned) {
        pages.push({ pageNumber, text: cleaned });
        length += cleaned.length;
      }
    }
    return {
      format: 'pdf',
      ...(title ? { title } : {}),
      text: pages.map((p) => p.text).join('\n\n'),
      pages,
    };
  } finally {
    await task.destroy();
  }
}

export const pdfReader: FormatReader = {
  format: 'pdf',
  accepts: (mime) => mime === 'application/pdf' || mime === 'application/x-pdf',
  sniff: (head) => latin1(head.subarray(0, 1024)).startsWith('%PDF-'),
  load: async () => {
    await loadPdfJs();
  },
  read(input) {
    if (input.truncated) {
      throw new DocumentError('too_large', 'only the first part of the PDF was received');
    }
    return readPdf(input.bytes, input.maxChars, input.maxPages);
  },
};
