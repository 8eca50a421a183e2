import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldEvents } from '../../src/protocol/fold.js';
import type { InteractionEvent } from '../../src/protocol/types.js';
import { STORE_KINDS } from '../support/databases.js';
import type { ChatRequest, UpstreamReply } from '../support/fake-upstream.js';
import { noRetry, startHarness, type Harness } from '../support/harness.js';

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

/** The answer as the model streams it: markers split across chunks, `[1]` in code, an unknown [7]. */
const ANSWER = [
  'Spain won Euro 2024, beating England 2-1 [',
  '1]. It was their fourth title [2',
  '][1]. In code `xs[1]` stays, and [',
  '7] cites nothing.',
];
const CLEAN =
  'Spain won Euro 2024, beating England 2-1. It was their fourth title. In code `xs[1]` stays, and cites nothing.';

/** Round 1: search; round 2: answer citing [1] and [2] (each chunk is its own upstream chunk). */
function searchThenAnswer(body: ChatRequest): UpstreamReply {
  const searched = body.messages.at(-1)?.role === 'tool';
  return searched
    ? { text: ANSWER, delayMs: 5 }
    : { toolCalls: [{ name: 'google_search', arguments: '{"queries":["who won euro 2024"]}' }] };
}

type AnyEvent = InteractionEvent & {
  delta?: {
    type: string;
    text?: string;
    annotations?: { url: string; start_index: number; end_index: number }[];
    content?: { type: string; text: string };
  };
};

/** The cited text of an annotation: its byte offsets into the UTF-8 text. */
const cited = (text: string, a: { start_index?: number; end_index?: number }) =>
  Buffer.from(text).subarray(a.start_index, a.end_index).toString();

describe.each(STORE_KINDS)('what clients see of citations and thoughts (%s)', (store) => {
  let h: Harness;
  let searx: { server: Server; url: string };
  beforeAll(async () => {
    const server = createServer((req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams.get('q');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ query: q, results: RESULTS }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    searx = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    h = await startHarness({
      store,
      config: { tools: { google_search: { backend: 'searxng', base_url: searx.url } } },
    });
  });
  afterAll(async () => {
    await h.close();
    searx.server.close();
  });

  it('never shows [n] markers: stream, create response, GET and the next turn carry the clean text with annotations over it', async () => {
    h.upstream.script = searchThenAnswer;
    const ai = h.client();
    const request = {
      model: 'gemini-3.5-flash',
      input: 'Who won the euro 2024?',
      tools: [{ type: 'google_search' as const }],
    };

    // streaming, through the SDK
    const stream = await ai.interactions.create({ ...request, stream: true }, noRetry);
    const events: AnyEvent[] = [];
    for await (const event of stream) events.push(event as AnyEvent);
    const deltas = events.flatMap((e) => (e.event_type === 'step.delta' ? [e.delta!] : []));
    const streamedText = deltas.filter((d) => d.type === 'text').map((d) => d.text ?? '');
    expect(streamedText.join('')).toBe(CLEAN);
    for (const piece of streamedText) expect(piece).not.toMatch(/\[[27]\]|\[1\]\./);
    const annotationDeltas = deltas.filter((d) => d.type === 'text_annotation_delta');
    expect(annotationDeltas).toHaveLength(1);
    const annotations = annotationDeltas[0]!.annotations!;
    expect(annotations.map((a) => [a.url, cited(CLEAN, a)])).toEqual([
      ['https://example.org/euro-2024-final', 'Spain won Euro 2024, beating England 2-1'],
      ['https://example.org/spain', 'It was their fourth title'],
      ['https://example.org/euro-2024-final', 'It was their fourth title'],
    ]);

    // the stored interaction (GET) is the fold of that stream
    const id = (events[0] as { interaction: { id: string } }).interaction.id;
    const got = await ai.interactions.get(id, undefined, noRetry);
    expect(got.steps?.slice(1)).toEqual(foldEvents(events).steps);
    expect(got.output_text).toBe(CLEAN);
    const answer = got.steps!.at(-1) as { content: { text: string; annotations: unknown[] }[] };
    expect(answer.content).toEqual([{ type: 'text', text: CLEAN, annotations }]);

    // the search result step shows suggestion chips, never the search backend's address
    const result = got.steps!.find((s) => s.type === 'google_search_result') as {
      result: { search_suggestions: string }[];
    };
    const suggestions = result.result[0]!.search_suggestions;
    expect(suggestions).toContain('who won euro 2024');
    expect(suggestions).not.toContain(searx.url);
    expect(suggestions).not.toContain('127.0.0.1');

    // non-streaming: the same text and annotations
    const unary = await ai.interactions.create(request, noRetry);
    expect(unary.output_text).toBe(CLEAN);
    expect(unary.steps?.at(-1)).toEqual(answer);

    // the next turn shows the model its own answer without markers
    h.upstream.script = () => ({ text: ['You are welcome.'] });
    await ai.interactions.create(
      { model: 'gemini-3.5-flash', previous_interaction_id: unary.id, input: 'Thanks!' },
      noRetry,
    );
    const history = h.upstream.requests.at(-1)!.messages;
    const said = history.filter((m) => m.role === 'assistant' && typeof m.content === 'string');
    expect(said.map((m) => m.content)).toEqual([CLEAN]);
  });

  it('leaves [n] alone when no tool asked for markers, and in JSON output', async () => {
    h.upstream.script = () => ({ text: ['Item [1] and ', '[2].'] });
    const ai = h.client();
    const plain = await ai.interactions.create(
      { model: 'gemini-3.5-flash', input: 'list' },
      noRetry,
    );
    expect(plain.output_text).toBe('Item [1] and [2].');

    h.upstream.script = () => ({ text: ['{"ids": [1', '], "n": [2]}'] });
    const json = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'ids',
        tools: [{ type: 'google_search' }],
        response_format: {
          type: 'text',
          mime_type: 'application/json',
          schema: { type: 'object' },
        },
      },
      noRetry,
    );
    expect(json.status).toBe('completed');
    expect(json.output_text).toBe('{"ids": [1], "n": [2]}');
  });

  it('streams a thought as one summary item however many chunks it came in; the default shows none', async () => {
    const reasoning = 'First I look up the final. Then I check the score, and the venue.'.split(
      /(?<= )/,
    );
    expect(reasoning.length).toBeGreaterThan(10);
    h.upstream.script = () => ({ reasoning, text: ['Spain.'], delayMs: 5 });
    const ai = h.client();

    const stream = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Who won?',
        generation_config: { thinking_summaries: 'auto' },
        stream: true,
      },
      noRetry,
    );
    const events: AnyEvent[] = [];
    for await (const event of stream) events.push(event as AnyEvent);
    const thoughtDeltas = events
      .filter((e) => e.event_type === 'step.delta' && e.index === 0)
      .map((e) => e.delta!);
    expect(thoughtDeltas.map((d) => d.type)).toEqual(['thought_summary', 'thought_signature']);
    expect(thoughtDeltas[0]!.content).toEqual({ type: 'text', text: reasoning.join('') });
    const id = (events[0] as { interaction: { id: string } }).interaction.id;
    const got = await ai.interactions.get(id, undefined, noRetry);
    expect(got.steps?.slice(1)).toEqual(foldEvents(events).steps);
    expect(got.steps?.[1]).toEqual({
      type: 'thought',
      summary: [{ type: 'text', text: reasoning.join('') }],
      signature: expect.any(String),
    });

    // Google's default: thought steps carry a signature and no summary
    const quiet = await ai.interactions.create(
      { model: 'gemini-3.5-flash', input: 'Who won?' },
      noRetry,
    );
    expect(quiet.steps?.[0]).toEqual({ type: 'thought', signature: expect.any(String) });
    expect(quiet.output_text).toBe('Spain.');
  });
});
