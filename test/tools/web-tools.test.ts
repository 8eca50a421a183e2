import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/protocol/types.js';
import type { ChatRequest } from '../support/fake-upstream.js';
import { deepHtml } from '../support/pdf.js';
import {
  interactionEvents,
  noRetry,
  parseSse,
  startHarness,
  type Harness,
} from '../support/harness.js';

const RESULTS = [
  {
    title: 'UEFA Euro 2024 final',
    url: 'https://example.org/euro-2024-final',
    content: 'Spain beat England 2-1 in Berlin.',
  },
  {
    title: 'Spain national team',
    url: 'https://example.org/spain',
    content: 'Spain won a record fourth title.',
  },
];

async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Round 1: the model searches (or reads a URL); round 2: it answers, citing result [1] and [2]. */
function searchThenAnswer(body: ChatRequest) {
  const result = body.messages.find((m) => m.role === 'tool');
  if (!result) {
    const tool = body.tools?.[0]?.function.name;
    return tool === 'google_search'
      ? { toolCalls: [{ name: 'google_search', arguments: '{"queries":["who won euro 2024"]}' }] }
      : {
          toolCalls: [
            {
              name: 'url_context',
              arguments: JSON.stringify({ urls: [body.messages.at(-1)!.content] }),
            },
          ],
        };
  }
  return {
    text: ['Spain won Euro 2024, beating England 2-1 [1]. ', 'It was their fourth title [2].'],
  };
}

describe('google_search and url_context through the tool loop', () => {
  let h: Harness;
  let searx: { server: Server; url: string };
  let page: { server: Server; url: string };
  const queries: string[] = [];
  beforeAll(async () => {
    searx = await listen((req, res) => {
      const url = new URL(req.url!, 'http://x');
      queries.push(url.searchParams.get('q') ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ query: url.searchParams.get('q'), results: RESULTS }));
    });
    page = await listen((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://10.0.0.1/secret' }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        '<html><head><title>Local page</title></head><body><article><p>The answer is forty-two.</p></article></body></html>',
      );
    });
    h = await startHarness({
      store: 'sqlite',
      config: { tools: { google_search: { backend: 'searxng', base_url: searx.url } } },
    });
    h.upstream.script = searchThenAnswer;
  });
  afterAll(async () => {
    await h.close();
    searx.server.close();
    page.server.close();
  });

  it("runs the seed's google_search example: every printed citation is a url the search backend returned", async () => {
    const ai = h.client();
    // --- the seed's code, unchanged except for the client's baseUrl
    const interaction = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Who won the euro 2024?',
        tools: [{ type: 'google_search' }],
      },
      noRetry,
    );
    const printed: string[] = [];
    for (const step of interaction.steps ?? []) {
      if (step.type === 'model_output') {
        for (const content of step.content ?? []) {
          if (content.type === 'text') {
            printed.push(content.text);
            for (const annotation of content.annotations ?? []) {
              if (annotation.type === 'url_citation')
                printed.push(`- [${annotation.title}](${annotation.url})`);
            }
          }
        }
      }
    }
    // ---
    expect(interaction.status).toBe('completed');
    expect(interaction.steps?.map((s) => s.type)).toEqual([
      'google_search_call',
      'google_search_result',
      'model_output',
    ]);
    expect(interaction.steps?.[0]).toMatchObject({ arguments: { queries: ['who won euro 2024'] } });
    expect(queries).toContain('who won euro 2024');
    const citations = printed.filter((l) => l.startsWith('- ['));
    expect(citations).toEqual([
      '- [UEFA Euro 2024 final](https://example.org/euro-2024-final)',
      '- [Spain national team](https://example.org/spain)',
    ]);
    const returned = new Set(RESULTS.map((r) => r.url));
    for (const line of citations) expect(returned.has(/\((.*)\)$/.exec(line)![1]!)).toBe(true);
    // the markers are gone; indices are byte offsets of the cited sentence in the clean text
    const text = interaction.output_text!;
    expect(text).toBe('Spain won Euro 2024, beating England 2-1. It was their fourth title.');
    const [first] = (
      interaction.steps![2] as {
        content: { annotations: { start_index: number; end_index: number }[] }[];
      }
    ).content[0]!.annotations;
    expect(Buffer.from(text).subarray(first!.start_index, first!.end_index).toString()).toBe(
      'Spain won Euro 2024, beating England 2-1',
    );
    expect(interaction.usage?.grounding_tool_count).toEqual([{ type: 'google_search', count: 1 }]);
  });

  it('streams the search call and result steps, then text and a text_annotation_delta (spec §5.5 d)', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'Who won?',
        tools: [{ type: 'google_search' }],
        stream: true,
      }),
    });
    const events = interactionEvents(parseSse(await res.text())) as (InteractionEvent & {
      step?: { type: string };
      delta?: { type: string };
    })[];
    const kinds = events
      .filter((e) => e.event_type.startsWith('step.'))
      .map((e) => `${e.event_type}:${e.step?.type ?? e.delta?.type ?? ''}`);
    expect(kinds.slice(0, 7)).toEqual([
      'step.start:google_search_call',
      'step.delta:google_search_call',
      'step.stop:',
      'step.start:google_search_result',
      'step.delta:google_search_result',
      'step.stop:',
      'step.start:model_output',
    ]);
    expect(kinds.at(-2)).toBe('step.delta:text_annotation_delta');
    const resultDelta = events[6] as unknown as {
      delta: { result: { search_suggestions: string }[]; is_error: boolean };
    };
    expect(resultDelta.delta.is_error).toBe(false);
    expect(resultDelta.delta.result[0]!.search_suggestions).toContain('who won euro 2024');
    expect(resultDelta.delta.result[0]!.search_suggestions).not.toContain(searx.url);
  });

  it('url_context refuses a page on 127.0.0.1 by default (status unsafe) and fetches it when allowed', async () => {
    const ask = (harness: Harness) =>
      harness.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: `${page.url}/page`,
          tools: [{ type: 'url_context' }],
        },
        noRetry,
      );
    const refused = await ask(h);
    expect(refused.steps?.[1]).toMatchObject({
      type: 'url_context_result',
      result: [{ url: `${page.url}/page`, status: 'unsafe' }],
    });

    const allowed = await startHarness({
      store: 'sqlite',
      config: { tools: { url_context: { allow_private: true } } },
    });
    allowed.upstream.script = (body) => {
      const result = body.messages.find((m) => m.role === 'tool');
      if (result)
        return {
          text: [
            String(result.content).includes('forty-two') ? 'It says forty-two [1].' : 'nothing',
          ],
        };
      return searchThenAnswer(body);
    };
    try {
      const fetched = await ask(allowed);
      expect(fetched.steps?.[1]).toMatchObject({ result: [{ status: 'success' }] });
      expect(fetched.output_text).toBe('It says forty-two.');
      const answer = fetched.steps?.at(-1) as { content: { annotations: unknown[] }[] };
      expect(answer.content[0]!.annotations).toEqual([
        {
          type: 'url_citation',
          url: `${page.url}/page`,
          title: 'Local page',
          start_index: 0,
          end_index: 17,
        },
      ]);
    } finally {
      await allowed.close();
    }
  });

  it('refuses an unconfigured google_maps before anything runs', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'x',
        tools: [{ type: 'google_maps' }],
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /tools\.google_maps/,
    );
  });

  it('google_maps finds places on an OpenStreetMap (Nominatim) service and streams its steps', async () => {
    const nominatim = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify([
          {
            osm_type: 'way',
            osm_id: 5013364,
            lat: '48.858',
            lon: '2.294',
            name: 'Tour Eiffel',
            display_name: 'Tour Eiffel, Paris, France',
          },
        ]),
      );
    });
    const maps = await startHarness({
      store: 'sqlite',
      config: { tools: { google_maps: { nominatim_url: nominatim.url } } },
    });
    maps.upstream.script = (body) =>
      body.messages.some((m) => m.role === 'tool')
        ? { text: ['It is the Tour Eiffel.'] }
        : { toolCalls: [{ name: 'google_maps', arguments: '{"queries":["eiffel tower"]}' }] };
    try {
      const res = await maps.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input: 'Where is it?',
          tools: [{ type: 'google_maps' }],
          stream: true,
        }),
      });
      const events = interactionEvents(parseSse(await res.text()));
      expect(events[2]).toMatchObject({
        event_type: 'step.start',
        step: { type: 'google_maps_call', signature: '' },
      });
      expect(events[3]).toMatchObject({
        delta: { type: 'google_maps_call', arguments: { queries: ['eiffel tower'] } },
      });
      expect(events[5]).toMatchObject({
        event_type: 'step.start',
        step: { type: 'google_maps_result' },
      });
      expect(events[6]).toMatchObject({
        delta: {
          type: 'google_maps_result',
          result: [
            {
              places: [
                {
                  name: 'Tour Eiffel',
                  place_id: 'places/osm-way-5013364',
                  url: 'https://www.openstreetmap.org/way/5013364',
                },
              ],
            },
          ],
        },
      });
      expect(events.at(-1)).toMatchObject({
        interaction: {
          status: 'completed',
          usage: { grounding_tool_count: [{ type: 'google_maps', count: 1 }] },
        },
      });
    } finally {
      await maps.close();
      nominatim.server.close();
    }
  });

  it('streams url_context call and result steps', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: `${page.url}/redirect`,
        tools: [{ type: 'url_context' }],
        stream: true,
      }),
    });
    const events = interactionEvents(parseSse(await res.text()));
    expect(events[3]).toMatchObject({
      delta: { type: 'url_context_call', arguments: { urls: [`${page.url}/redirect`] } },
    });
    expect(events[6]).toMatchObject({
      delta: {
        type: 'url_context_result',
        result: [{ url: `${page.url}/redirect`, status: 'unsafe' }],
      },
    });
  });

  it('mixes server tools and client functions: the server tool runs, the client function stops the run', async () => {
    h.upstream.script = () => ({
      toolCalls: [
        { name: 'google_search', arguments: '{"queries":["weather"]}' },
        { name: 'get_location', arguments: '{}' },
      ],
    });
    try {
      const r = await h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'Weather here?',
          tools: [
            { type: 'google_search' },
            {
              type: 'function',
              name: 'get_location',
              parameters: { type: 'object', properties: {} },
            },
          ],
        },
        noRetry,
      );
      expect(r.status).toBe('requires_action');
      expect(r.steps?.map((s) => s.type).sort()).toEqual([
        'function_call',
        'google_search_call',
        'google_search_result',
      ]);
      expect(queries).toContain('weather');
    } finally {
      h.upstream.script = searchThenAnswer;
    }
  });
});

describe('url_context reads hostile pages off the event loop (issue 9)', () => {
  let h: Harness;
  let pages: { server: Server; url: string };
  /** Resolves when the page at a path has been sent in full. */
  const sent = new Map<string, () => void>();
  const pageSent = (path: string) => new Promise<void>((resolve) => sent.set(path, resolve));

  beforeAll(async () => {
    const bodies = new Map([
      ['/deep-1000', deepHtml(1_000)], // 11 KB
      ['/deep-100000', deepHtml(100_000)], // 1.1 MB
    ]);
    pages = await listen((req, res) => {
      const body = bodies.get(req.url ?? '');
      res.writeHead(body ? 200 : 404, { 'content-type': 'text/html' });
      res.end(body, () => sent.get(req.url ?? '')?.());
    });
    h = await startHarness({
      store: 'sqlite',
      config: {
        tools: {
          url_context: {
            allowed_hosts: [new URL(pages.url).host],
            max_bytes: 2 * 1024 * 1024,
            parse_timeout_seconds: 3,
          },
        },
      },
    });
    // round 1: read the URL the user sent; round 2: repeat what the tool said
    h.upstream.script = (body) => {
      const result = body.messages.find((m) => m.role === 'tool');
      return result ? { text: [`tool said: ${String(result.content)}`] } : searchThenAnswer(body);
    };
  });
  afterAll(async () => {
    await h.close();
    pages.server.close();
  });

  async function readWhileProbing(path: string) {
    const before = h.upstream.requests.length;
    const served = pageSent(path);
    const interaction = h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: `${pages.url}${path}`,
        tools: [{ type: 'url_context' }],
      },
      noRetry,
    );
    await served;
    // the page is being parsed now; the server keeps answering other requests
    const health = await fetch(`${h.baseUrl}/healthz`);
    const modelRoundsAtProbe = h.upstream.requests.length - before;
    return { health, modelRoundsAtProbe, interaction: await interaction };
  }

  it('reads the 11 KB page of 1,000 nested divs while /healthz answers', async () => {
    const { health, interaction } = await readWhileProbing('/deep-1000');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(interaction.status).toBe('completed');
    expect(interaction.steps?.[1]).toMatchObject({
      type: 'url_context_result',
      result: [{ url: `${pages.url}/deep-1000`, status: 'success' }],
    });
    expect(interaction.output_text).toContain('hello');
  });

  it('gives up on the 1.1 MB page of 100,000 nested divs at the time cap, saying so, while /healthz answers', async () => {
    const { health, modelRoundsAtProbe, interaction } = await readWhileProbing('/deep-100000');
    expect(health.status).toBe(200);
    // /healthz answered before the parse ended: the model's second round (with the tool's
    // result) had not been requested yet
    expect(modelRoundsAtProbe).toBe(1);
    expect(interaction.status).toBe('completed');
    expect(interaction.steps?.[1]).toMatchObject({
      type: 'url_context_result',
      result: [{ url: `${pages.url}/deep-100000`, status: 'error' }],
      is_error: true,
    });
    expect(interaction.output_text).toContain(
      `${pages.url}/deep-100000: error (the document could not be read: reading it took longer than the 3 s limit)`,
    );
    // the same server goes on serving
    const next = await readWhileProbing('/deep-1000');
    expect(next.interaction.steps?.[1]).toMatchObject({ result: [{ status: 'success' }] });
  });
});
