import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PHASE_HEADINGS, type Phase } from '../../src/agents/deep-research/prompts.js';
import type { ChatRequest, UpstreamReply, UpstreamScript } from './fake-upstream.js';

/**
 * A small web for deep-research tests, all on 127.0.0.1: a SearXNG-style search API whose
 * results point at pages of a page server, and a scripted model (for fake-upstream.ts) that
 * plans, searches, reads and writes a cited report, recognising each phase by the heading of
 * the recipe's instructions.
 */

export interface ResearchWorld {
  searchUrl: string;
  pagesUrl: string;
  /** Host:port of the page server (for `tools.url_context.allowed_hosts`). */
  pagesHost: string;
  /** Search queries received, in order. */
  queries: string[];
  /** Page paths served, in order. */
  served: string[];
  /** URLs the search API returned. */
  resultUrls: string[];
  close(): Promise<void>;
}

async function listen(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export const PAGES: Record<string, { title: string; body: string }> = {
  '/tpu-v1': {
    title: 'TPU v1: the first tensor processor',
    body: 'Google deployed its first Tensor Processing Unit in its data centers in 2015.',
  },
  '/tpu-v4': {
    title: 'TPU v4 and optical switching',
    body: 'TPU v4, announced in 2021, connects 4096 chips with optical circuit switches.',
  },
};

export async function startResearchWorld(): Promise<ResearchWorld> {
  const queries: string[] = [];
  const served: string[] = [];
  const pages = await listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const page = PAGES[path];
    served.push(path);
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<html><head><title>${page.title}</title></head><body><article><h1>${page.title}</h1><p>${page.body}</p></article></body></html>`,
    );
  });
  const resultUrls = Object.keys(PAGES).map((path) => `${pages.url}${path}`);
  const search = await listen((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '';
    queries.push(q);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        query: q,
        results: Object.entries(PAGES).map(([path, page]) => ({
          title: page.title,
          url: `${pages.url}${path}`,
          content: page.body,
        })),
      }),
    );
  });
  return {
    searchUrl: search.url,
    pagesUrl: pages.url,
    pagesHost: new URL(pages.url).host,
    queries,
    served,
    resultUrls,
    async close() {
      for (const { server } of [pages, search]) {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
  };
}

/** The phase of a model call of the recipe (from its instructions), or undefined. */
export function phaseOf(body: ChatRequest): Phase | undefined {
  const first = body.messages[0];
  const text = first?.role === 'system' ? String(first.content) : '';
  return (Object.keys(PHASE_HEADINGS) as Phase[]).find((p) => text.startsWith(PHASE_HEADINGS[p]));
}

export const PLAN_TEXT = '1. Search for the history of Google TPUs.\n2. Read the best pages.';
export const REPORT_TEXT = [
  '# Google TPUs\n\nGoogle deployed its first TPU in 2015 [3]. ',
  'TPU v4 arrived in 2021 [2]. ',
  'It links thousands of chips with light [9].',
];

/**
 * The scripted researcher: plan; search; read the first result (when url_context is among its
 * tools); note findings; report citing
 * the page it read ([3]), a search result ([2]) and a source that does not exist ([9]).
 * `hold` makes the model call of that phase/round wait until the upstream is released.
 */
export function researcherScript(
  world: ResearchWorld,
  o: { hold?: { phase: Phase; round?: number } } = {},
): UpstreamScript {
  return (body) => {
    const phase = phaseOf(body);
    const toolResults = body.messages.filter((m) => m.role === 'tool').length;
    const held = (reply: UpstreamReply, round?: number): UpstreamReply =>
      o.hold && o.hold.phase === phase && (o.hold.round === undefined || o.hold.round === round)
        ? { ...reply, hold: true }
        : reply;
    if (phase === 'plan') {
      return held({ reasoning: ['Scoping the question.'], text: [PLAN_TEXT] });
    }
    if (phase === 'research') {
      const round = toolResults + 1;
      if (round === 1) {
        return held(
          {
            reasoning: ['Start with a broad search.'],
            toolCalls: [
              { name: 'google_search', arguments: '{"queries":["history of google tpus"]}' },
            ],
          },
          round,
        );
      }
      const canRead = body.tools?.some((t) => t.function.name === 'url_context') ?? false;
      if (round === 2 && canRead) {
        return held(
          {
            text: ['Reading the first result in full.'],
            toolCalls: [
              { name: 'url_context', arguments: JSON.stringify({ urls: [world.resultUrls[0]] }) },
            ],
          },
          round,
        );
      }
      return held({ text: ['Findings: first TPU 2015; TPU v4 2021.'] }, round);
    }
    if (phase === 'report') return held({ text: REPORT_TEXT });
    return { text: ['(not a deep-research call)'] };
  };
}

/** Config for a harness whose deep-research agents use the world's search and pages. */
export function researchConfig(world: ResearchWorld, agents?: unknown[]): Record<string, unknown> {
  return {
    tools: {
      google_search: { backend: 'searxng', base_url: world.searchUrl },
      url_context: { allowed_hosts: [world.pagesHost] },
      code_execution: false,
    },
    agents: agents ?? [
      { name: 'deep-research-*', recipe: 'deep-research', model: 'gemini-3.5-flash' },
    ],
  };
}
