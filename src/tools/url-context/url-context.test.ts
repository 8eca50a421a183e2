import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../../../test/support/pdf.js';
import { ApiError } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { createDocumentParser } from '../../documents/index.js';
import type { HostResolver } from '../../net/address-policy.js';
import {
  createUrlContextTool,
  extractUrls,
  fetchUrl,
  urlContextConfigSchema,
  urlContextOptions,
  type UrlContextOptions,
} from './index.js';

const ARTICLE = `<!doctype html><html><head><meta charset="utf-8"><title>Elbrus facts</title></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a> NAVIGATION-NOISE</nav>
<article>
<h1>Mount Elbrus</h1>
<p>${'Mount Elbrus is the highest mountain in Europe, rising to 5,642 metres in the Caucasus. '.repeat(6)}</p>
<p>${'It is a dormant volcano with two summits, both of which are covered by glaciers. '.repeat(6)}</p>
</article>
<footer>FOOTER-NOISE</footer>
<script>var tracking = "SCRIPT-NOISE";</script>
</body></html>`;

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/article': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(ARTICLE);
  },
  '/short': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      '<html><head><title>Tiny</title></head><body><p>Just one line &amp; a bit.</p></body></html>',
    );
  },
  '/doc.pdf': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/pdf' });
    res.end(makePdf(['Hello from a PDF file'], 'PDF Title'));
  },
  '/untyped.pdf': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(makePdf(['Sniffed PDF']));
  },
  '/notes.txt': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('plain notes: äöü\nline two\n');
  },
  '/data.json': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"name":"elbrus","height_m":5642}');
  },
  '/image.png': (_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
  },
  '/pay': (_req, res) => {
    res.writeHead(402, { 'content-type': 'text/html' });
    res.end('<p>subscribe</p>');
  },
  '/premium': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      '<html><head><title>Premium</title><script type="application/ld+json">{"@type":"NewsArticle","isAccessibleForFree":false}</script></head><body><p>Teaser paragraph only.</p></body></html>',
    );
  },
  '/moved': (_req, res) => {
    res.writeHead(301, { location: '/notes.txt' });
    res.end();
  },
  '/latin1': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      Buffer.from(
        '<html><head><meta charset="iso-8859-1"><title>Caf\u00e9</title></head><body><p>cr\u00e8me br\u00fbl\u00e9e</p></body></html>',
        'latin1',
      ),
    );
  },
};

let server: Server;
let origin: string;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    const route = routes[(req.url ?? '/').split('?')[0]!];
    if (route) route(req, res);
    else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
});

/** One parser for the file's tools (each tool would otherwise start its own processes). */
const parser = createDocumentParser();

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await parser.close();
});

const open: UrlContextOptions = { allowPrivate: true, timeoutMs: 5_000 };

async function run(urls: string[], options: UrlContextOptions = open) {
  const tool = createUrlContextTool({ documentParser: parser, ...options });
  try {
    const session = await tool.open({ type: 'url_context' }, 0);
    return await session.execute('url_context', { urls }, new AbortController().signal);
  } finally {
    await tool.close?.();
  }
}

describe('url_context tool', () => {
  it('declares url_context with a urls array and the step types', async () => {
    const session = await createUrlContextTool().open({ type: 'url_context' }, 2);
    expect(session.type).toBe('url_context');
    expect(session.steps).toEqual({ call: 'url_context_call', result: 'url_context_result' });
    expect(session.declarations).toHaveLength(1);
    const [decl] = session.declarations;
    expect(decl!.name).toBe('url_context');
    expect(decl!.parameters).toMatchObject({
      type: 'object',
      properties: { urls: { type: 'array', items: { type: 'string' } } },
      required: ['urls'],
    });
  });

  it('rejects unknown fields on the tool entry, naming tools[i].<field>', async () => {
    const tool = createUrlContextTool();
    const error = await tool.open({ type: 'url_context', max_urls: 3 } as JsonObject, 4).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ApiError.isInstance(error)).toBe(true);
    expect((error as ApiError).code).toBe('invalid_request');
    expect((error as ApiError).message).toMatch(/^tools\[4\]\.max_urls/);
  });

  it('reads an HTML page: title plus the article text, without navigation, scripts and footers', async () => {
    const out = await run([`${origin}/article`]);
    expect(out.call).toEqual({ arguments: { urls: [`${origin}/article`] } });
    expect(out.result).toEqual({
      result: [{ url: `${origin}/article`, status: 'success' }],
      is_error: false,
    });
    expect(out.sources).toEqual([{ url: `${origin}/article`, title: 'Elbrus facts' }]);
    const text = out.modelOutput as string;
    expect(text).toContain('[1] Elbrus facts');
    expect(text).toContain(`URL: ${origin}/article`);
    expect(text).toContain('highest mountain in Europe');
    expect(text).toContain('dormant volcano');
    expect(text).not.toContain('NAVIGATION-NOISE');
    expect(text).not.toContain('SCRIPT-NOISE');
    expect(text).not.toContain('FOOTER-NOISE');
  });

  it('falls back to the whole page for short HTML', async () => {
    const out = await run([`${origin}/short`]);
    expect(out.sources).toEqual([{ url: `${origin}/short`, title: 'Tiny' }]);
    expect(out.modelOutput).toContain('Just one line & a bit.');
  });

  it('reads a PDF (title from the document info, text from the page)', async () => {
    const out = await run([`${origin}/doc.pdf`, `${origin}/untyped.pdf`]);
    expect(out.result).toEqual({
      result: [
        { url: `${origin}/doc.pdf`, status: 'success' },
        { url: `${origin}/untyped.pdf`, status: 'success' },
      ],
      is_error: false,
    });
    expect(out.sources![0]).toEqual({ url: `${origin}/doc.pdf`, title: 'PDF Title' });
    expect(out.modelOutput).toContain('Hello from a PDF file');
    expect(out.modelOutput).toContain('Sniffed PDF');
  });

  it('passes plain text and JSON through', async () => {
    const out = await run([`${origin}/notes.txt`, `${origin}/data.json`]);
    expect(out.result).toMatchObject({
      result: [{ status: 'success' }, { status: 'success' }],
    });
    const text = out.modelOutput as string;
    expect(text).toContain('plain notes: äöü\nline two');
    expect(text).toContain('"height_m": 5642');
    expect(out.sources).toEqual([{ url: `${origin}/notes.txt` }, { url: `${origin}/data.json` }]);
  });

  it('reports 404, unsupported types and unreachable hosts as error, 402 as paywall', async () => {
    const out = await run([
      `${origin}/missing`,
      `${origin}/image.png`,
      `${origin}/pay`,
      'http://127.0.0.1:1/closed',
      'not a url',
    ]);
    expect(out.result).toEqual({
      result: [
        { url: `${origin}/missing`, status: 'error' },
        { url: `${origin}/image.png`, status: 'error' },
        { url: `${origin}/pay`, status: 'paywall' },
        { url: 'http://127.0.0.1:1/closed', status: 'error' },
        { url: 'not a url', status: 'error' },
      ],
      is_error: true,
    });
    expect(out.sources).toEqual([]);
    const text = out.modelOutput as string;
    expect(text).toContain('None of the 5 URL(s) could be read.');
    expect(text).toContain(`${origin}/missing: error (HTTP 404)`);
    expect(text).toContain('unsupported content type image/png');
  });

  it('marks a page that declares isAccessibleForFree:false as paywall, still giving its text', async () => {
    const out = await run([`${origin}/premium`]);
    expect(out.result).toEqual({
      result: [{ url: `${origin}/premium`, status: 'paywall' }],
      is_error: false,
    });
    expect(out.modelOutput).toContain('Teaser paragraph only.');
  });

  it('follows redirects and cites the final URL', async () => {
    const out = await run([`${origin}/moved`]);
    expect(out.result).toEqual({
      result: [{ url: `${origin}/moved`, status: 'success' }],
      is_error: false,
    });
    expect(out.sources).toEqual([{ url: `${origin}/notes.txt` }]);
  });

  it('decodes a legacy charset declared in a <meta> tag', async () => {
    const out = await run([`${origin}/latin1`]);
    expect(out.sources).toEqual([{ url: `${origin}/latin1`, title: 'Café' }]);
    expect(out.modelOutput).toContain('crème brûlée');
  });

  it('refuses a private URL as unsafe by default and fetches it with allowPrivate', async () => {
    const refused = await run([`${origin}/notes.txt`], {});
    expect(refused.result).toEqual({
      result: [{ url: `${origin}/notes.txt`, status: 'unsafe' }],
      is_error: true,
    });
    expect(refused.modelOutput).toMatch(/unsafe \(refused 127\.0\.0\.1: loopback/);
    const allowed = await run([`${origin}/notes.txt`], { allowPrivate: true });
    expect(allowed.result).toEqual({
      result: [{ url: `${origin}/notes.txt`, status: 'success' }],
      is_error: false,
    });
  });

  it('refuses a host that resolves privately, and metadata addresses', async () => {
    const resolve: HostResolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const out = await run(
      [`http://docs.example:${port}/notes.txt`, 'http://169.254.169.254/latest/meta-data/'],
      { resolve },
    );
    expect(out.result).toEqual({
      result: [
        { url: `http://docs.example:${port}/notes.txt`, status: 'unsafe' },
        { url: 'http://169.254.169.254/latest/meta-data/', status: 'unsafe' },
      ],
      is_error: true,
    });
    const allowed = await run([`http://docs.example:${port}/notes.txt`], {
      resolve,
      allowedHosts: ['docs.example'],
    });
    expect(allowed.result).toMatchObject({ result: [{ status: 'success' }] });
  });

  it('numbers only readable documents, limits the URL count and clips long documents', async () => {
    const out = await run(
      [`${origin}/missing`, `${origin}/article`, `${origin}/notes.txt`, `${origin}/data.json`],
      { ...open, maxUrls: 3, maxCharsPerUrl: 300 },
    );
    expect(out.result).toEqual({
      result: [
        { url: `${origin}/missing`, status: 'error' },
        { url: `${origin}/article`, status: 'success' },
        { url: `${origin}/notes.txt`, status: 'success' },
        { url: `${origin}/data.json`, status: 'error' },
      ],
      is_error: false,
    });
    const text = out.modelOutput as string;
    expect(text).toContain('[1] Elbrus facts');
    expect(text).toContain(`[2] ${origin}/notes.txt`);
    expect(text).toContain('[…truncated]');
    expect(text).toContain('only 3 URLs are fetched per call');
  });

  it('returns an error result when no URL is given', async () => {
    const tool = createUrlContextTool(open);
    const session = await tool.open({ type: 'url_context' }, 0);
    const out = await session.execute('url_context', {}, new AbortController().signal);
    expect(out.result).toEqual({ result: [], is_error: true });
  });

  it('throws the abort reason when cancelled', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled by client');
    controller.abort(reason);
    await expect(fetchUrl(`${origin}/article`, open, parser, controller.signal)).rejects.toBe(
      reason,
    );
  });
});

describe('urlContextConfigSchema', () => {
  it('applies defaults and maps snake_case settings to options', () => {
    expect(urlContextOptions(urlContextConfigSchema.parse({}))).toEqual({
      allowPrivate: false,
      allowedHosts: [],
      maxBytes: 1024 * 1024,
      timeoutMs: 10_000,
      maxUrls: 20,
      maxRedirects: 5,
      maxCharsPerUrl: 20_000,
      maxTotalChars: 100_000,
      concurrency: 4,
    });
    expect(
      urlContextOptions(
        urlContextConfigSchema.parse({
          allow_private: true,
          max_urls: 3,
          timeout_seconds: 2.5,
          user_agent: 'x',
          parse_timeout_seconds: 0.5,
          parse_memory_mb: 128,
        }),
      ),
    ).toMatchObject({
      allowPrivate: true,
      maxUrls: 3,
      timeoutMs: 2_500,
      userAgent: 'x',
      parseTimeoutMs: 500,
      parseMemoryMb: 128,
    });
    expect(urlContextConfigSchema.safeParse({ bogus: 1 }).success).toBe(false);
  });
});

describe('extractUrls', () => {
  it('finds http(s) URLs in text and trims punctuation and brackets', () => {
    expect(
      extractUrls(
        'Compare https://a.example/x. and (see https://b.example/wiki/Foo_(bar)), ' +
          '[docs](https://c.example/d?q=1&r=2) <https://d.example/> and ftp://e.example/ ' +
          'again https://a.example/x!',
      ),
    ).toEqual([
      'https://a.example/x',
      'https://b.example/wiki/Foo_(bar)',
      'https://c.example/d?q=1&r=2',
      'https://d.example/',
    ]);
    expect(extractUrls('no links here')).toEqual([]);
    expect(extractUrls('http://a.example http://b.example http://c.example', 2)).toHaveLength(2);
  });
});
