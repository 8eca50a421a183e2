import { Readability } from '@mozilla/readability';
import { convert, type HtmlToTextOptions } from 'html-to-text';
import { parseHTML } from 'linkedom';

/** Readable text pulled out of one fetched document. */
export interface ExtractedDocument {
  title?: string;
  text: string;
  /** The page declares itself as not freely accessible (schema.org `isAccessibleForFree: false`). */
  paywalled?: boolean;
}

export type DocumentKind = 'html' | 'pdf' | 'text' | 'json' | 'unsupported';

/** Decides how to read a body from its content type, sniffing when the type is missing or vague. */
export function documentKind(contentType: string, body: Buffer): DocumentKind {
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  if (mime === 'text/html' || mime === 'application/xhtml+xml') return 'html';
  if (mime === 'application/pdf' || mime === 'application/x-pdf') return 'pdf';
  if (mime === 'application/json' || mime.endsWith('+json')) return 'json';
  if (
    mime.startsWith('text/') ||
    mime === 'application/xml' ||
    mime.endsWith('+xml') ||
    mime === 'application/javascript' ||
    mime === 'application/x-yaml' ||
    mime === 'application/yaml'
  ) {
    return 'text';
  }
  if (mime === '' || mime === 'application/octet-stream' || mime === 'binary/octet-stream') {
    const head = body.subarray(0, 1024).toString('latin1');
    if (head.startsWith('%PDF-')) return 'pdf';
    const lead = head.trimStart().slice(0, 200).toLowerCase();
    if (lead.startsWith('<!doctype html') || lead.startsWith('<html')) return 'html';
    if (lead.startsWith('{') || lead.startsWith('[')) return 'json';
    if (looksLikeText(body)) return 'text';
  }
  return 'unsupported';
}

function looksLikeText(body: Buffer): boolean {
  const sample = body.subarray(0, 4096);
  if (sample.length === 0) return true;
  let control = 0;
  for (const byte of sample) {
    if (byte === 0) return false;
    if (byte < 9 || (byte > 13 && byte < 32)) control++;
  }
  return control / sample.length < 0.02;
}

/** Decodes a body using the charset from the header, a BOM, or (HTML) a <meta> tag; UTF-8 otherwise. */
export function decodeText(body: Buffer, contentType: string, html = false): string {
  let label = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) label = 'utf-8';
  else if (body[0] === 0xff && body[1] === 0xfe) label = 'utf-16le';
  else if (body[0] === 0xfe && body[1] === 0xff) label = 'utf-16be';
  else if (!label && html) {
    const head = body.subarray(0, 2048).toString('latin1');
    label =
      /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(head)?.[1] ??
      /<meta[^>]+content\s*=\s*["'][^"']*charset=([\w.:-]+)/i.exec(head)?.[1];
  }
  try {
    return new TextDecoder(label ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

const TEXT_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'nav', format: 'skip' },
    { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
    ...(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'] as const).map((selector) => ({
      selector,
      options: { uppercase: false },
    })),
  ],
};

function tidy(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t\u00a0]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const PAYWALL = /"isAccessibleForFree"\s*:\s*("?)false\1/i;

/** HTML → title and readable text: Readability on linkedom, html-to-text on the whole page when that finds no article. */
export function htmlToDocument(html: string): ExtractedDocument {
  const paywalled = PAYWALL.test(html) || undefined;
  let title: string | undefined;
  let article: ReturnType<Readability['parse']> = null;
  try {
    const { document } = parseHTML(html);
    title =
      document.title?.trim() ||
      document.querySelector('meta[property="og:title"]')?.getAttribute('content')?.trim() ||
      undefined;
    article = new Readability(document as unknown as Document, { charThreshold: 200 }).parse();
  } catch {
    article = null;
  }
  if (!title) {
    const match = /<title[^>]*>([^<]*)<\/title>/i.exec(html);
    title = match ? decodeEntities(match[1]!).trim() || undefined : undefined;
  }
  let text = '';
  if (article?.content && (article.textContent ?? '').trim().length >= 200) {
    text = tidy(convert(article.content, TEXT_OPTIONS));
  }
  if (!text) {
    text = tidy(
      convert(html, {
        ...TEXT_OPTIONS,
        baseElements: { selectors: ['body'], returnDomByDefault: true },
      }),
    );
  }
  if (!title && article?.title) title = article.title.trim() || undefined;
  return { title, text, ...(paywalled ? { paywalled } : {}) };
}

function decodeEntities(text: string): string {
  return convert(text, { wordwrap: false });
}

/** Most pages read from one PDF. */
const MAX_PDF_PAGES = 200;

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');
let pdfjsPromise: Promise<PdfJs> | undefined;

/** Loads pdf.js with its worker running in this thread (no worker thread, no network). */
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

/** PDF → title (document info) and text, page by page, stopping once `maxChars` is reached. */
export async function pdfToDocument(body: Buffer, maxChars: number): Promise<ExtractedDocument> {
  const pdfjs = await loadPdfJs();
  const task = pdfjs.getDocument({
    data: new Uint8Array(body),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    useWorkerFetch: false,
    stopAtErrors: false,
    verbosity: 0,
  });
  const pdf = await task.promise;
  try {
    let title: string | undefined;
    try {
      const meta = await pdf.getMetadata();
      const info = meta.info as { Title?: unknown };
      if (typeof info.Title === 'string' && info.Title.trim()) title = info.Title.trim();
    } catch {
      // Metadata is optional.
    }
    const pages: string[] = [];
    let length = 0;
    const count = Math.min(pdf.numPages, MAX_PDF_PAGES);
    for (let n = 1; n <= count && length < maxChars; n++) {
      const page = await pdf.getPage(n);
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
        pages.push(cleaned);
        length += cleaned.length;
      }
    }
    return { title, text: pages.join('\n\n') };
  } finally {
    await task.destroy();
  }
}

/** JSON is given to the model as sent, pretty-printed when it parses and is compact. */
export function jsonToText(raw: string): string {
  const trimmed = raw.trim();
  if (trimmed.length < 200_000 && !trimmed.includes('\n')) {
    try {
      return JSON.stringify(JSON.parse(trimmed), null, 2);
    } catch {
      return trimmed;
    }
  }
  return trimmed;
}
