/**
 * The format readers, run in this process (what a parser process runs for each document).
 * The pool around them is tested in pool.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { deepHtml, makePdf } from '../../test/support/pdf.js';
import { DocumentError } from './errors.js';
import { detectFormat } from './formats/index.js';
import { decodeText } from './formats/decode.js';
import { readDocument } from './read-document.js';

const utf8 = (text: string) => Buffer.from(text);

async function failure(promise: Promise<unknown>): Promise<DocumentError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(DocumentError.isInstance(error)).toBe(true);
  return error as DocumentError;
}

const ARTICLE = `<!doctype html><html><head><title>Elbrus facts</title></head><body>
<nav>NAVIGATION-NOISE</nav>
<article><h1>Mount Elbrus</h1>
<p>${'Mount Elbrus is the highest mountain in Europe, rising to 5,642 metres. '.repeat(6)}</p>
</article><footer>FOOTER-NOISE</footer><script>var x = "SCRIPT-NOISE";</script>
</body></html>`;

describe('detectFormat', () => {
  it.each([
    ['text/html; charset=utf-8', '', 'html'],
    ['application/xhtml+xml', '', 'html'],
    ['application/pdf', '', 'pdf'],
    ['', '%PDF-1.7', 'pdf'],
    ['application/octet-stream', '<!DOCTYPE html><p>', 'html'],
    ['binary/octet-stream', '  <html><body>', 'html'],
    ['application/ld+json', '{}', 'json'],
    ['', '[1,2]', 'json'],
    ['text/plain', '', 'text'],
    ['text/markdown', '# x', 'text'],
    ['application/rss+xml', '<rss/>', 'text'],
    ['', 'just words', 'text'],
    ['image/jpeg', 'x', undefined],
    ['', '\u0000\u0001\u0002', undefined],
  ])('%j with %j → %s', (mime, head, format) => {
    expect(detectFormat(mime, utf8(head))).toBe(format);
  });
});

describe('HTML', () => {
  it('reads the article: title and text, without navigation, scripts and footers', async () => {
    const doc = await readDocument({ bytes: utf8(ARTICLE), mimeType: 'text/html' });
    expect(doc).toMatchObject({ format: 'html', title: 'Elbrus facts' });
    expect(doc.text).toContain('Mount Elbrus is the highest mountain in Europe');
    expect(doc.text).not.toMatch(/NAVIGATION-NOISE|FOOTER-NOISE|SCRIPT-NOISE/);
    expect(doc.pages).toBeUndefined();
  });

  it('takes the title from og:title when <title> is missing, and flags paywalled pages', async () => {
    const doc = await readDocument({
      bytes: utf8(
        '<html><head><meta property="og:title" content="OG Title"><script type="application/ld+json">{"isAccessibleForFree": "false"}</script></head><body><p>Teaser.</p></body></html>',
      ),
      mimeType: 'text/html',
    });
    expect(doc).toEqual({ format: 'html', title: 'OG Title', text: 'Teaser.', paywalled: true });
  });

  it('reads 1,000 nested divs (the 11 KB page of issue 9) without Readability', async () => {
    const doc = await readDocument({ bytes: deepHtml(1_000, 'deep words'), mimeType: 'text/html' });
    expect(doc).toEqual({ format: 'html', title: 'Deep 1000', text: 'deep words' });
  });

  it('reads text deeper than html-to-text can recurse straight off the DOM', async () => {
    const html = deepHtml(3_000, 'deeper <script>SCRIPT-NOISE</script> words');
    const doc = await readDocument({ bytes: html, mimeType: 'text/html' });
    expect(doc.text).toBe('deeper words');
  });

  it('decodes a legacy charset from <meta>, the content type, or a BOM', async () => {
    const latin1 = Buffer.from(
      '<html><head><meta charset="iso-8859-1"><title>Caf\u00e9</title></head><body><p>cr\u00e8me</p></body></html>',
      'latin1',
    );
    expect(await readDocument({ bytes: latin1, mimeType: 'text/html' })).toMatchObject({
      title: 'Caf\u00e9',
      text: 'cr\u00e8me',
    });
    expect(decodeText(Buffer.from([0xe9]), 'text/plain; charset=latin1')).toBe('é');
    expect(decodeText(Buffer.from([0xef, 0xbb, 0xbf, 0x41]), 'text/plain')).toBe('A');
  });
});

describe('PDF', () => {
  it('reads the title and each page with its page number, skipping empty pages', async () => {
    const pdf = makePdf(['First page', '', 'Third page'], 'Three Pages');
    const doc = await readDocument({ bytes: pdf, mimeType: 'application/pdf' });
    expect(doc).toEqual({
      format: 'pdf',
      title: 'Three Pages',
      text: 'First page\n\nThird page',
      pages: [
        { pageNumber: 1, text: 'First page' },
        { pageNumber: 3, text: 'Third page' },
      ],
    });
  });

  it('stops at maxPages and once maxChars are collected', async () => {
    const pdf = makePdf(['Page one', 'Page two', 'Page three']);
    const byPages = await readDocument({ bytes: pdf, mimeType: 'application/pdf', maxPages: 2 });
    expect(byPages.pages?.map((p) => p.pageNumber)).toEqual([1, 2]);
    const byChars = await readDocument({ bytes: pdf, mimeType: 'application/pdf', maxChars: 5 });
    expect(byChars.pages?.map((p) => p.pageNumber)).toEqual([1]);
  });

  it('calls a file that is not a PDF corrupt', async () => {
    const error = await failure(
      readDocument({ bytes: utf8('%PDF-1.4\nnot really a pdf'), mimeType: 'application/pdf' }),
    );
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(/^not a readable PDF: /);
  });

  it('refuses a PDF that was cut short (too_large)', async () => {
    const pdf = makePdf(['Hello']);
    const error = await failure(
      readDocument({ bytes: pdf.subarray(0, 100), mimeType: 'application/pdf', truncated: true }),
    );
    expect(error.kind).toBe('too_large');
  });
});

describe('JSON and text', () => {
  it('pretty-prints compact JSON and passes text through', async () => {
    expect(
      await readDocument({ bytes: utf8('{"name":"elbrus"}'), mimeType: 'application/json' }),
    ).toEqual({ format: 'json', text: '{\n  "name": "elbrus"\n}' });
    expect(
      await readDocument({ bytes: utf8('  notes: äöü\n'), mimeType: 'text/plain; charset=utf-8' }),
    ).toEqual({ format: 'text', text: 'notes: äöü' });
  });

  it('refuses other types as unsupported, naming the type', async () => {
    const error = await failure(readDocument({ bytes: utf8('x'), mimeType: 'image/png' }));
    expect(error.kind).toBe('unsupported');
    expect(error.message).toBe('unsupported content type image/png');
  });
});
