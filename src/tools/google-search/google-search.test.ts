import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { json, scripted, type Recorded } from '../../../test/support/recording-server.js';
import { ApiError } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { plainText } from './backends.js';
import {
  createGoogleSearchTool,
  googleSearchConfigSchema,
  type GoogleSearchConfig,
} from './index.js';

async function search(
  config: GoogleSearchConfig,
  args: JsonObject,
  entry: JsonObject = { type: 'google_search' },
) {
  const session = await createGoogleSearchTool(config).open(entry, 0);
  return session.execute('google_search', args, new AbortController().signal);
}

/** A SearXNG stand-in: two results per query, one URL shared between queries. */
function searxngReply(req: Recorded, res: ServerResponse) {
  if (req.path !== '/search' && req.path !== '/searx/search') return json(res, 404, {});
  const q = req.query.q ?? '';
  if (q === 'broken') return json(res, 500, { error: 'engine exploded' });
  json(res, 200, {
    query: q,
    results: [
      {
        url: `https://example.org/${encodeURIComponent(q)}`,
        title: `About ${q}`,
        content: `All on ${q} &amp; more`,
      },
      {
        url: 'https://shared.example/page#frag',
        title: 'Shared page',
        content: 'Appears for every query',
      },
      { url: 'javascript:alert(1)', title: 'bad', content: 'not a web URL' },
    ],
    suggestions: [],
  });
}

describe('google_search on SearXNG', () => {
  it('sends GET /search?q=…&format=json and numbers deduplicated results', async () => {
    const server = await scripted(searxngReply);
    const out = await search(
      { backend: 'searxng', base_url: server.url },
      { queries: ['mount elbrus', 'highest <peak> europe'] },
    );
    expect(server.requests.map((r) => [r.method, r.path, r.query])).toEqual([
      ['GET', '/search', { q: 'mount elbrus', format: 'json' }],
      ['GET', '/search', { q: 'highest <peak> europe', format: 'json' }],
    ]);
    expect(out.call).toEqual({
      arguments: { queries: ['mount elbrus', 'highest <peak> europe'] },
      search_type: 'web_search',
    });
    expect(out.sources).toEqual([
      { url: 'https://example.org/mount%20elbrus', title: 'About mount elbrus' },
      { url: 'https://shared.example/page#frag', title: 'Shared page' },
      {
        url: 'https://example.org/highest%20%3Cpeak%3E%20europe',
        title: 'About highest <peak> europe',
      },
    ]);
    const text = out.modelOutput as string;
    expect(text).toContain(
      '[1] About mount elbrus — https://example.org/mount%20elbrus\nAll on mount elbrus & more',
    );
    expect(text).toContain('[2] Shared page — https://shared.example/page#frag');
    expect(text).toContain('[3] About highest <peak> europe');
    expect(text).not.toContain('[4]');
    expect(text).not.toContain('javascript:');
    expect(text).toContain('[n]');
  });

  it("records only schema fields: search_suggestions chips in Google's shape, is_error false", async () => {
    const server = await scripted(searxngReply);
    const out = await search(
      { backend: 'searxng', base_url: server.url },
      { queries: ['a "b" <c>', 'two'] },
    );
    expect(Object.keys(out.result).sort()).toEqual(['is_error', 'result']);
    expect(out.result.is_error).toBe(false);
    const items = out.result.result as JsonObject[];
    expect(items).toHaveLength(1);
    expect(Object.keys(items[0]!)).toEqual(['search_suggestions']);
    const html = items[0]!.search_suggestions as string;
    // Google's chip: <style>…</style><div class="container"><div class="headline">…</div>
    // <div class="carousel"><a class="chip" …>query</a>…</div></div>
    expect(html).toMatch(
      /^<style>.*<\/style><div class="container"><div class="headline">.*<\/div><div class="carousel">.*<\/div><\/div>$/s,
    );
    // SearXNG's address is an internal service: the chips are labels, not links to it
    expect(html).not.toContain(server.url);
    expect(html).not.toContain('127.0.0.1');
    expect(html).not.toContain('href');
    expect(html).toContain(
      '<span class="chip">a &#34;b&#34; &#60;c&#62;</span><span class="chip">two</span>',
    );
    expect(html).not.toContain('<c>');
  });

  it('links the chips to the configured public search page, never to the backend', async () => {
    const server = await scripted(searxngReply);
    const out = await search(
      {
        backend: 'searxng',
        base_url: server.url,
        search_page_url: 'https://search.example.org/search?q={query}&lang=en',
      },
      { queries: ['a "b" & c'] },
    );
    const html = (out.result.result as JsonObject[])[0]!.search_suggestions as string;
    expect(html).toContain(
      '<a class="chip" href="https://search.example.org/search?q=a%20%22b%22%20%26%20c&#38;lang=en" target="_blank" rel="noopener">a &#34;b&#34; &#38; c</a>',
    );
    expect(html).not.toContain(server.url);
  });

  it('honours a base_url with a path and max_results', async () => {
    const server = await scripted(searxngReply);
    const out = await search(
      { backend: 'searxng', base_url: `${server.url}/searx/`, max_results: 1 },
      { queries: ['one'] },
    );
    expect(server.requests[0]!.path).toBe('/searx/search');
    expect(out.sources).toHaveLength(1);
  });

  it('accepts a single `query` string from the model', async () => {
    const server = await scripted(searxngReply);
    const out = await search({ backend: 'searxng', base_url: server.url }, { query: 'solo' });
    expect(out.call).toMatchObject({ arguments: { queries: ['solo'] } });
  });

  it('turns backend HTTP errors into an is_error result, not a throw', async () => {
    const server = await scripted((_req, res) => json(res, 403, { error: 'forbidden' }));
    const out = await search({ backend: 'searxng', base_url: server.url }, { queries: ['x'] });
    expect(out.result.is_error).toBe(true);
    expect(out.result.result).toEqual([{ search_suggestions: expect.any(String) }]);
    expect(out.sources).toEqual([]);
    expect(out.modelOutput).toMatch(/SearXNG answered HTTP 403: forbidden/);
    expect(out.modelOutput).toMatch(/search\.formats/);
  });

  it('keeps the results of the queries that worked when one fails', async () => {
    const server = await scripted(searxngReply);
    const out = await search(
      { backend: 'searxng', base_url: server.url },
      { queries: ['broken', 'fine'] },
    );
    expect(out.result.is_error).toBe(false);
    expect(out.modelOutput).toContain(
      'Query "broken" failed: SearXNG answered HTTP 500: engine exploded',
    );
    expect(out.sources!.map((s) => s.title)).toEqual(['About fine', 'Shared page']);
  });

  it('reports an unreachable backend and a timeout as errors', async () => {
    const down = await search(
      { backend: 'searxng', base_url: 'http://127.0.0.1:1' },
      { queries: ['x'] },
    );
    expect(down.result.is_error).toBe(true);
    expect(down.modelOutput).toMatch(/could not be reached/);

    const hang = await scripted(() => undefined);
    const started = Date.now();
    const slow = await search(
      { backend: 'searxng', base_url: hang.url, timeout_seconds: 0.2 },
      { queries: ['x'] },
    );
    expect(slow.result.is_error).toBe(true);
    expect(slow.modelOutput).toMatch(/did not answer within 200 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('throws the abort reason when the run is cancelled', async () => {
    const hang = await scripted(() => undefined);
    const session = await createGoogleSearchTool({ backend: 'searxng', base_url: hang.url }).open(
      { type: 'google_search' },
      0,
    );
    const controller = new AbortController();
    const reason = new Error('cancelled');
    setTimeout(() => controller.abort(reason), 50);
    await expect(
      session.execute('google_search', { queries: ['x'] }, controller.signal),
    ).rejects.toBe(reason);
  });

  it('returns an error result for a call without queries', async () => {
    const server = await scripted(searxngReply);
    const out = await search({ backend: 'searxng', base_url: server.url }, { queries: [] });
    expect(out.result).toEqual({ result: [], is_error: true });
    expect(server.requests).toEqual([]);
  });
});

describe('other backends: request shapes', () => {
  it('Brave: GET /res/v1/web/search with X-Subscription-Token', async () => {
    const server = await scripted((req, res) =>
      json(res, 200, {
        web: {
          results: [
            {
              title: 'Brave <strong>hit</strong>',
              url: 'https://b.example/',
              description: 'A <strong>bold</strong> claim',
            },
          ],
        },
      }),
    );
    const out = await search(
      { backend: 'brave', base_url: server.url, api_key: 'brave-key', max_results: 3 },
      { queries: ['q1'] },
    );
    const [req] = server.requests;
    expect(req!.method).toBe('GET');
    expect(req!.path).toBe('/res/v1/web/search');
    expect(req!.query).toEqual({ q: 'q1', count: '3' });
    expect(req!.headers['x-subscription-token']).toBe('brave-key');
    expect(out.sources).toEqual([{ url: 'https://b.example/', title: 'Brave hit' }]);
    expect(out.modelOutput).toContain('[1] Brave hit — https://b.example/\nA bold claim');
    const html = (out.result.result as JsonObject[])[0]!.search_suggestions as string;
    expect(html).toContain('https://search.brave.com/search?q=q1');
    expect(html).not.toContain(server.url);
  });

  it('Tavily: POST /search with a JSON body carrying api_key', async () => {
    const server = await scripted((_req, res) =>
      json(res, 200, {
        results: [{ title: 'T', url: 'https://t.example/x', content: 'tavily says', score: 0.9 }],
      }),
    );
    const out = await search(
      { backend: 'tavily', base_url: server.url, api_key: 'tvly-key' },
      { queries: ['q2'] },
    );
    const [req] = server.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/search');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers.authorization).toBe('Bearer tvly-key');
    expect(JSON.parse(req!.body)).toMatchObject({
      api_key: 'tvly-key',
      query: 'q2',
      max_results: 5,
    });
    expect(out.sources).toEqual([{ url: 'https://t.example/x', title: 'T' }]);
    // Tavily has no public results page: the chip is a label, not a link.
    const html = (out.result.result as JsonObject[])[0]!.search_suggestions as string;
    expect(html).toContain('<div class="carousel"><span class="chip">q2</span></div>');
    expect(html).not.toContain(server.url);
  });

  it('Google PSE: GET /customsearch/v1?key&cx&q&num', async () => {
    const server = await scripted((_req, res) =>
      json(res, 200, {
        items: [{ title: 'G', link: 'https://g.example/', snippet: 'google snippet' }],
      }),
    );
    const out = await search(
      {
        backend: 'google_pse',
        base_url: server.url,
        api_key: 'g-key',
        cx: 'engine-1',
        max_results: 20,
      },
      { queries: ['q3'] },
    );
    const [req] = server.requests;
    expect(req!.method).toBe('GET');
    expect(req!.path).toBe('/customsearch/v1');
    expect(req!.query).toEqual({ key: 'g-key', cx: 'engine-1', q: 'q3', num: '10' });
    expect(out.sources).toEqual([{ url: 'https://g.example/', title: 'G' }]);
    const html = (out.result.result as JsonObject[])[0]!.search_suggestions as string;
    expect(html).toContain('href="https://www.google.com/search?q=q3"');
    expect(html).not.toContain(server.url);
  });

  it('Google PSE errors carry the API message but never the key', async () => {
    const server = await scripted((_req, res) =>
      json(res, 400, {
        error: { code: 400, message: 'API key not valid. Please pass a valid API key.' },
      }),
    );
    const out = await search(
      { backend: 'google_pse', base_url: server.url, api_key: 'secret-key-123', cx: 'c' },
      { queries: ['q'] },
    );
    expect(out.result.is_error).toBe(true);
    expect(out.modelOutput).toContain('HTTP 400: API key not valid');
    expect(JSON.stringify(out)).not.toContain('secret-key-123');
  });
});

describe('google_search tool entry', () => {
  const tool = createGoogleSearchTool({ backend: 'searxng', base_url: 'http://127.0.0.1:1' });
  const failure = (entry: JsonObject, index = 1) =>
    tool.open(entry, index).then(
      () => undefined,
      (e: unknown) => e as ApiError,
    );

  it('declares google_search with queries and asks for [n] citations', async () => {
    const session = await tool.open({ type: 'google_search' }, 0);
    expect(session.type).toBe('google_search');
    expect(session.steps).toEqual({ call: 'google_search_call', result: 'google_search_result' });
    expect(session.declarations[0]!.name).toBe('google_search');
    expect(session.declarations[0]!.description).toContain('[n]');
    expect(session.citationMarkers).toBe(true);
    expect(session.declarations[0]!.parameters).toMatchObject({
      type: 'object',
      properties: { queries: { type: 'array' } },
      required: ['queries'],
    });
  });

  it('accepts search_types web_search / enterprise_web_search', async () => {
    await expect(
      tool.open({ type: 'google_search', search_types: ['web_search'] }, 0),
    ).resolves.toBeTruthy();
    await expect(
      tool.open({ type: 'google_search', search_types: ['web_search', 'image_search'] }, 0),
    ).resolves.toBeTruthy();
    await expect(
      tool.open({ type: 'google_search', search_types: ['enterprise_web_search'] }, 0),
    ).resolves.toBeTruthy();
  });

  it('rejects bad fields naming tools[i].<field>', async () => {
    const unknownField = await failure({ type: 'google_search', exclude_domains: ['x'] });
    expect(ApiError.isInstance(unknownField)).toBe(true);
    expect(unknownField!.code).toBe('invalid_request');
    expect(unknownField!.message).toMatch(/^tools\[1\]\.exclude_domains: unknown field/);

    const badType = await failure({ type: 'google_search', search_types: ['video_search'] });
    expect(badType!.code).toBe('invalid_request');
    expect(badType!.message).toMatch(/^tools\[1\]\.search_types\[0\]/);

    const notArray = await failure({ type: 'google_search', search_types: 'web_search' });
    expect(notArray!.message).toMatch(/^tools\[1\]\.search_types: expected array/);
  });

  it('refuses image_search alone as not available', async () => {
    const error = await failure({ type: 'google_search', search_types: ['image_search'] }, 3);
    expect(error!.code).toBe('failed_precondition');
    expect(error!.message).toMatch(/^tools\[3\]\.search_types\[0\]: image_search/);
  });
});

describe('googleSearchConfigSchema', () => {
  it('applies defaults and checks what each backend needs', () => {
    expect(
      googleSearchConfigSchema.parse({ backend: 'searxng', base_url: 'http://localhost:8888' }),
    ).toEqual({
      backend: 'searxng',
      base_url: 'http://localhost:8888',
      max_results: 5,
      timeout_seconds: 10,
      max_queries: 5,
    });
    const issues = (value: unknown) =>
      googleSearchConfigSchema.safeParse(value).error?.issues.map((i) => i.path.join('.'));
    expect(issues({ backend: 'searxng' })).toEqual(['base_url']);
    expect(issues({ backend: 'brave' })).toEqual(['api_key']);
    expect(issues({ backend: 'tavily', api_key: 'k' })).toBeUndefined();
    expect(issues({ backend: 'google_pse', api_key: 'k' })).toEqual(['cx']);
    expect(issues({ backend: 'bing', api_key: 'k' })).toEqual(['backend']);
    expect(issues({ backend: 'brave', api_key: 'k', base_url: 'ftp://x' })).toEqual(['base_url']);
    expect(issues({ backend: 'brave', api_key: 'k', extra: 1 })).toEqual(['']);
    const page = (search_page_url: string) =>
      issues({ backend: 'searxng', base_url: 'http://127.0.0.1:8888', search_page_url });
    expect(page('https://search.example.org/search?q={query}')).toBeUndefined();
    expect(page('https://search.example.org/search')).toEqual(['search_page_url']);
    expect(page('javascript:alert({query})')).toEqual(['search_page_url']);
    expect(page('not a url {query}')).toEqual(['search_page_url']);
  });
});

describe('plainText', () => {
  it('strips tags and decodes entities', () => {
    expect(plainText('<b>Tom</b> &amp; Jerry&#39;s &#x263A; &lt;x&gt; &bogus;')).toBe(
      "Tom & Jerry's ☺ <x> &bogus;",
    );
    expect(plainText(undefined)).toBe('');
  });
});
