/**
 * The `file_search` tool (spec §7.4) end to end, through the official SDK changed only by
 * `baseUrl`: a store, three documents uploaded and polled to done, then interactions whose
 * scripted model searches and answers from the passage it was given. The model's script picks
 * the passage it cites from what the search returned (the one that holds the answer), so a
 * wrong retrieval leaves the answer without the right citation and fails the test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GoogleGenAI, UploadToFileSearchStoreOperation } from '@google/genai';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/protocol/types.js';
import { STORE_KINDS, type StoreKind } from '../support/databases.js';
import { lastUserText, type ChatRequest, type UpstreamReply } from '../support/fake-upstream.js';
import {
  embeddingModels,
  startFileSearchHarness,
  type FileSearchHarness,
} from '../support/file-search.js';
import { requireStoriesGguf } from '../support/gguf.js';
import { makePdf } from '../support/pdf.js';
import { KEY_B, interactionEvents, noRetry, parseSse } from '../support/harness.js';

/** The documents of the store; `answer` is what a passage must hold to answer `question`. */
const DOCUMENTS = [
  {
    name: 'parking.txt',
    text: 'Parking at the office is free on weekends. On weekdays the garage costs four euros a day.',
    metadata: [
      { key: 'team', stringValue: 'facilities' },
      { key: 'year', numericValue: 2025 },
    ],
  },
  {
    name: 'expenses.md',
    text: '# Expenses\n\nTravel expenses are reimbursed monthly, together with the salary. Keep every receipt.',
    metadata: [
      { key: 'team', stringValue: 'finance' },
      { key: 'year', numericValue: 2026 },
    ],
  },
  {
    name: 'laptops.txt',
    text: 'Laptops are replaced every three years. Ask the IT desk for a new one.',
    metadata: [
      { key: 'team', stringValue: 'it' },
      { key: 'year', numericValue: 2024 },
      { key: 'tags', stringListValue: { values: ['hardware', 'desk'] } },
    ],
  },
] as const;

/** Passages a file_search result showed the model: number → text. */
function passagesShown(body: ChatRequest): Map<number, { header: string; text: string }> {
  const shown = new Map<number, { header: string; text: string }>();
  const tool = [...body.messages].reverse().find((m) => m.role === 'tool');
  if (!tool) return shown;
  const content =
    typeof tool.content === 'string'
      ? tool.content
      : (tool.content as { text?: string }[]).map((p) => p.text ?? '').join('');
  for (const m of content.matchAll(/^\[(\d+)\] (.*)\n((?: {2}.*(?:\n|$))+)/gm)) {
    shown.set(Number(m[1]), { header: m[2]!, text: m[3]!.replace(/^ {2}/gm, '').trim() });
  }
  return shown;
}

/**
 * A model that searches for the user's question, then answers with the first sentence of the
 * first passage it was shown that contains `answerTerm`, citing that passage's number (and one
 * number past the last passage). Without such a passage it says so, citing nothing.
 */
function searchingModel(answerTerm: () => string) {
  return (body: ChatRequest): UpstreamReply => {
    if (!body.messages.some((m) => m.role === 'tool')) {
      return {
        toolCalls: [
          { name: 'file_search', arguments: JSON.stringify({ queries: [lastUserText(body)] }) },
        ],
      };
    }
    const term = answerTerm();
    const hit = [...passagesShown(body)].find(([, p]) => p.text.includes(term));
    if (!hit) return { text: ['The documents do not say.'] };
    const sentence = hit[1].text.split('\n').find((l) => l.includes(term))!;
    const first = sentence.slice(0, sentence.indexOf('.', sentence.indexOf(term)));
    // and a marker for a passage it was not shown, which must not become a citation
    const unknown = Math.max(0, ...passagesShown(body).keys()) + 1;
    return { text: [`${first.slice(0, 12)}`, `${first.slice(12)} [${hit[0]}][${unknown}].`] };
  };
}

/** Polls an operation with the SDK, as a client does, until it is done. */
async function poll(
  client: GoogleGenAI,
  operation: UploadToFileSearchStoreOperation,
): Promise<UploadToFileSearchStoreOperation> {
  let op = operation;
  for (let i = 0; !op.done; i++) {
    if (i > 3000) throw new Error(`operation ${op.name} is not done after 3000 polls`);
    await new Promise((r) => setTimeout(r, 20));
    op = await client.operations.get({ operation: op });
  }
  return op;
}

/** Creates a store and uploads the three documents (two Blobs, one file path); returns names. */
async function createStoreWithDocuments(ai: GoogleGenAI, dir: string, embeddingModel?: string) {
  const store = await ai.fileSearchStores.create({
    config: { displayName: 'Office handbook', ...(embeddingModel ? { embeddingModel } : {}) },
  });
  const operations = [];
  for (const [i, doc] of DOCUMENTS.entries()) {
    let file: string | Blob;
    if (i === 2) {
      file = join(dir, doc.name);
      writeFileSync(file, doc.text);
    } else {
      file = new Blob([doc.text], { type: i === 1 ? 'text/markdown' : 'text/plain' });
    }
    operations.push(
      await ai.fileSearchStores.uploadToFileSearchStore({
        fileSearchStoreName: store.name!,
        file,
        config: {
          displayName: doc.name,
          mimeType: i === 1 ? 'text/markdown' : 'text/plain',
          customMetadata: [...doc.metadata] as never,
        },
      }),
    );
  }
  const done = await Promise.all(operations.map((op) => poll(ai, op)));
  const documents = done.map((op) => {
    expect(op.error).toBeUndefined();
    return op.response!.documentName!;
  });
  return { store: store.name!, documents };
}

type Annotation = {
  type: string;
  document_uri?: string;
  file_name?: string;
  source?: string;
  page_number?: number;
  custom_metadata?: Record<string, unknown>;
  start_index?: number;
  end_index?: number;
};

function answerOf(interaction: { steps?: unknown[] }) {
  const output = (interaction.steps ?? []).find(
    (s) => (s as { type: string }).type === 'model_output',
  ) as { content?: { type: string; text: string; annotations?: Annotation[] }[] } | undefined;
  const text = output?.content?.[0];
  return { text: text?.text ?? '', annotations: text?.annotations ?? [] };
}

const interactionCount = async (fs: FileSearchHarness) =>
  Number(
    (await sql<{ n: number | string }>`select count(*) as n from interactions`.execute(fs.rows))
      .rows[0]!.n,
  );

describe.each(STORE_KINDS)(
  'the file_search tool through the official SDK (%s)',
  (kind: StoreKind) => {
    let fs: FileSearchHarness;
    let dir: string;
    let term = 'weekends';
    let store: string;
    let documents: string[];
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'oi-file-search-tool-'));
      fs = await startFileSearchHarness(kind, {
        script: searchingModel(() => term),
        // a second model of another dimension, for stores searched together across models
        embeddingModels: (url) => [
          ...embeddingModels(url),
          {
            name: 'embed-small',
            backend: 'openai-compatible',
            base_url: url,
            model: 'fake-embed',
            dimensions: 64,
          },
        ],
        config: { tools: { file_search: {} } },
      });
      ({ store, documents } = await createStoreWithDocuments(fs.h.client(), dir, 'embed-test'));
    });
    afterAll(async () => {
      await fs?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lists the three uploaded documents as active', async () => {
      const pager = await fs.h.client().fileSearchStores.documents.list({ parent: store });
      const listed = [];
      for await (const d of pager) listed.push(d);
      expect(listed.map((d) => d.name).sort()).toEqual([...documents].sort());
      expect(listed.map((d) => d.state)).toEqual(['STATE_ACTIVE', 'STATE_ACTIVE', 'STATE_ACTIVE']);
    });

    it('answers from the right document and cites it with a file_citation; no [n] stays in the text', async () => {
      term = 'weekends';
      const before = fs.h.upstream.requests.length;
      const interaction = await fs.h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'Is parking free on weekends?',
          tools: [{ type: 'file_search', file_search_store_names: [store], top_k: 1 }],
        },
        noRetry,
      );
      expect(interaction.status).toBe('completed');
      expect(interaction.steps?.map((s) => s.type)).toEqual([
        'file_search_call',
        'file_search_result',
        'model_output',
      ]);
      expect(interaction.steps?.[0]).toEqual({
        type: 'file_search_call',
        id: expect.any(String),
        signature: expect.any(String),
      });
      expect(interaction.steps?.[1]).toEqual({
        type: 'file_search_result',
        call_id: (interaction.steps?.[0] as { id: string }).id,
        result: [],
        signature: expect.any(String),
      });
      // The model was offered a search function and shown exactly top_k = 1 passage, numbered.
      const [first, second] = fs.h.upstream.requests.slice(before);
      expect(first!.tools?.map((t) => t.function.name)).toEqual(['file_search']);
      const shown = passagesShown(second!);
      expect([...shown.keys()]).toEqual([1]);
      expect(shown.get(1)!.header).toBe(`parking.txt (${documents[0]})`);

      const { text, annotations } = answerOf(interaction);
      expect(text).toBe('Parking at the office is free on weekends.');
      expect(interaction.output_text).not.toMatch(/\[\d+\]/);
      expect(annotations).toEqual([
        {
          type: 'file_citation',
          document_uri: documents[0],
          file_name: 'parking.txt',
          source: DOCUMENTS[0].text,
          custom_metadata: { team: 'facilities', year: 2025 },
          start_index: 0,
          end_index: Buffer.byteLength(text) - 1, // the sentence, without its full stop
        },
      ]);

      // A next turn carries the search and the clean answer in its history.
      const next = await fs.h
        .client()
        .interactions.create(
          { model: 'gemini-3.5-flash', input: 'Thanks!', previous_interaction_id: interaction.id },
          noRetry,
        );
      expect(next.status).toBe('completed');
      const replay = fs.h.upstream.requests.at(-1)!.messages;
      expect(replay.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
      expect(JSON.stringify(replay[3]!.content)).toContain(
        'Parking at the office is free on weekends.',
      );
      expect(JSON.stringify(replay[3]!.content)).not.toMatch(/\[\d+\]/);
    });

    it('shows the model top_k passages (default 5 from the config: here all three documents)', async () => {
      term = 'receipt';
      const before = fs.h.upstream.requests.length;
      const interaction = await fs.h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'What do I keep for my travel expenses?',
          tools: [{ type: 'file_search', file_search_store_names: [store] }],
        },
        noRetry,
      );
      const shown = passagesShown(fs.h.upstream.requests[before + 1]!);
      expect(shown.size).toBe(3);
      // The best passage is the one that answers.
      expect(shown.get(1)!.header).toBe(`expenses.md (${documents[1]})`);
      const { text, annotations } = answerOf(interaction);
      expect(text).not.toMatch(/\[\d+\]/);
      expect(annotations.map((a) => [a.type, a.document_uri, a.file_name])).toEqual([
        ['file_citation', documents[1], 'expenses.md'],
      ]);
    });

    it('searches only the documents metadata_filter selects', async () => {
      term = 'weekends';
      const ask = async (filter: string) => {
        const before = fs.h.upstream.requests.length;
        const interaction = await fs.h.client().interactions.create(
          {
            model: 'gemini-3.5-flash',
            input: 'Is parking free on weekends?',
            tools: [
              { type: 'file_search', file_search_store_names: [store], metadata_filter: filter },
            ],
          },
          noRetry,
        );
        const shown = [...passagesShown(fs.h.upstream.requests[before + 1]!).values()];
        return { files: shown.map((p) => p.header.split(' ')[0]).sort(), ...answerOf(interaction) };
      };
      // Parking is excluded: the answer cites nothing (no citation of a passage not retrieved).
      const it = await ask('team = "it" OR year >= 2026');
      expect(it.files).toEqual(['expenses.md', 'laptops.txt']);
      expect(it.text).toBe('The documents do not say.');
      expect(it.annotations).toEqual([]);
      const facilities = await ask('(team = "facilities" AND year < 2026) OR tags : "hardware"');
      expect(facilities.files).toEqual(['laptops.txt', 'parking.txt']);
      expect(facilities.annotations.map((a) => a.file_name)).toEqual(['parking.txt']);
    });

    it('streams the file_search_call and file_search_result steps, then the text and its file_citation', async () => {
      term = 'three years';
      const res = await fs.h.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({
          model: 'gemini-3.5-flash',
          input: 'How often are laptops replaced?',
          tools: [{ type: 'file_search', file_search_store_names: [store] }],
          stream: true,
        }),
      });
      expect(res.status).toBe(200);
      const events = interactionEvents(parseSse(await res.text())) as (InteractionEvent & {
        step?: { type: string };
        delta?: { type: string; text?: string; annotations?: Annotation[] };
      })[];
      const kinds = events
        .filter((e) => e.event_type.startsWith('step.'))
        .map((e) => `${e.event_type}:${e.step?.type ?? e.delta?.type ?? ''}`);
      expect(kinds.slice(0, 7)).toEqual([
        'step.start:file_search_call',
        'step.delta:file_search_call',
        'step.stop:',
        'step.start:file_search_result',
        'step.delta:file_search_result',
        'step.stop:',
        'step.start:model_output',
      ]);
      expect(kinds.at(-2)).toBe('step.delta:text_annotation_delta');
      const streamed = events
        .filter((e) => e.delta?.type === 'text')
        .map((e) => e.delta!.text)
        .join('');
      expect(streamed).toBe('Laptops are replaced every three years.');
      const cited = events.find((e) => e.delta?.type === 'text_annotation_delta')!.delta!;
      expect(cited.annotations).toEqual([
        expect.objectContaining({
          type: 'file_citation',
          document_uri: documents[2],
          file_name: 'laptops.txt',
          custom_metadata: { team: 'it', year: 2024, tags: ['hardware', 'desk'] },
        }),
      ]);
    });

    it('searches stores of different embedding models together, each query embedded with each store model', async () => {
      const ai = fs.h.client();
      const small = await ai.fileSearchStores.create({
        config: { displayName: 'small', embeddingModel: 'embed-small' },
      });
      const op = await poll(
        ai,
        await ai.fileSearchStores.uploadToFileSearchStore({
          fileSearchStoreName: small.name!,
          file: new Blob(['The canteen serves soup on Fridays.'], { type: 'text/plain' }),
          config: { displayName: 'canteen.txt' },
        }),
      );
      expect(op.error).toBeUndefined();
      const ask = async (question: string, answer: string) => {
        term = answer;
        const before = fs.embeddings.requests.length;
        const interaction = await ai.interactions.create(
          {
            model: 'gemini-3.5-flash',
            input: question,
            tools: [{ type: 'file_search', file_search_store_names: [store, small.name!] }],
          },
          noRetry,
        );
        // one query, embedded once per model: 256 dimensions (no `dimensions` sent) and 64
        const queries = fs.embeddings.requests.slice(before);
        expect(queries.map((r) => r.dimensions ?? 256).sort((a, b) => a - b)).toEqual([64, 256]);
        return answerOf(interaction).annotations.map((a) => a.file_name);
      };
      expect(await ask('What does the canteen serve on Fridays?', 'soup')).toEqual(['canteen.txt']);
      expect(await ask('Is parking free on weekends?', 'weekends')).toEqual(['parking.txt']);
    });

    it('cites the page of a PDF passage (page_number)', async () => {
      const ai = fs.h.client();
      const manuals = await ai.fileSearchStores.create({ config: { displayName: 'manuals' } });
      const pdf = makePdf(
        ['The printer is on the second floor.', 'Toner cartridges are kept in the basement.'],
        'Printer manual',
      );
      const op = await poll(
        ai,
        await ai.fileSearchStores.uploadToFileSearchStore({
          fileSearchStoreName: manuals.name!,
          file: new Blob([Buffer.from(pdf)], { type: 'application/pdf' }),
          config: {
            displayName: 'printer.pdf',
            // seven words a chunk: one chunk per page
            chunkingConfig: { whiteSpaceConfig: { maxTokensPerChunk: 7, maxOverlapTokens: 0 } },
          },
        }),
      );
      term = 'basement';
      const interaction = await ai.interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'Where are the toner cartridges kept?',
          tools: [{ type: 'file_search', file_search_store_names: [manuals.name!] }],
        },
        noRetry,
      );
      const { text, annotations } = answerOf(interaction);
      expect(text).toBe('Toner cartridges are kept in the basement.');
      expect(annotations).toEqual([
        expect.objectContaining({
          type: 'file_citation',
          document_uri: op.response!.documentName,
          file_name: 'printer.pdf',
          page_number: 2,
          source: expect.stringContaining('basement') as unknown as string,
        }),
      ]);
    });

    it('turns a failing embedding backend into an is_error result; the model answers without citations', async () => {
      term = 'weekends';
      const before = fs.h.upstream.requests.length;
      fs.embeddings.failNext(400);
      const interaction = await fs.h.client().interactions.create(
        {
          model: 'gemini-3.5-flash',
          input: 'Is parking free on weekends?',
          tools: [{ type: 'file_search', file_search_store_names: [store] }],
        },
        noRetry,
      );
      expect(interaction.status).toBe('completed');
      expect(interaction.steps?.[1]).toMatchObject({
        type: 'file_search_result',
        result: [],
        is_error: true,
      });
      const told = fs.h.upstream.requests[before + 1]!.messages.find((m) => m.role === 'tool')!;
      expect(JSON.stringify(told.content)).toContain('File search failed');
      expect(answerOf(interaction)).toEqual({ text: 'The documents do not say.', annotations: [] });
    });

    it('refuses unknown, malformed and foreign stores and a malformed filter with 400 naming the field, storing nothing', async () => {
      const requests = fs.h.upstream.requests.length;
      const interactions = await interactionCount(fs);
      const refuse = async (tool: Record<string, unknown>, key?: string) => {
        const res = await fs.h.fetch('/v1beta/interactions', {
          method: 'POST',
          ...(key ? { key } : {}),
          body: JSON.stringify({
            model: 'gemini-3.5-flash',
            input: 'hi',
            tools: [{ type: 'url_context' }, { type: 'file_search', ...tool }],
          }),
        });
        const body = (await res.json()) as { error: { message: string } };
        return { status: res.status, message: body.error.message };
      };
      const cases: [Record<string, unknown>, string | undefined, string][] = [
        [
          { file_search_store_names: [store, 'fileSearchStores/nope-123'] },
          undefined,
          'tools[1].file_search_store_names[1]',
        ],
        [
          { file_search_store_names: ['not-a-store-name'] },
          undefined,
          'tools[1].file_search_store_names[0]',
        ],
        // Project B names project A's store: to B it does not exist.
        [{ file_search_store_names: [store] }, KEY_B, 'tools[1].file_search_store_names[0]'],
        [{ file_search_store_names: [] }, undefined, 'tools[1].file_search_store_names'],
        [{}, undefined, 'tools[1].file_search_store_names'],
        [{ file_search_store_names: [store], top_k: 0 }, undefined, 'tools[1].top_k'],
        [{ file_search_store_names: [store], top_k: 1.5 }, undefined, 'tools[1].top_k'],
        [
          { file_search_store_names: [store], metadata_filter: 'team = ' },
          undefined,
          'tools[1].metadata_filter',
        ],
        [
          { file_search_store_names: [store], metadata_filter: '(a = 1' },
          undefined,
          'tools[1].metadata_filter',
        ],
        [
          { file_search_store_names: [store], metadata_filter: 7 },
          undefined,
          'tools[1].metadata_filter',
        ],
        [{ file_search_store_names: [store], unknown_field: 1 }, undefined, 'tools[1]'],
      ];
      for (const [tool, key, field] of cases) {
        const got = await refuse(tool, key);
        expect(got.status, JSON.stringify(tool)).toBe(400);
        expect(got.message, JSON.stringify(tool)).toContain(field);
      }
      // Nothing reached the model, nothing was stored.
      expect(fs.h.upstream.requests.length).toBe(requests);
      expect(await interactionCount(fs)).toBe(interactions);
    });
  },
);

describe('the file_search tool when it is not configured', () => {
  let fs: FileSearchHarness;
  beforeAll(async () => {
    fs = await startFileSearchHarness('sqlite');
  });
  afterAll(() => fs?.close());

  it('refuses it with 400 naming tools[0] and the setting', async () => {
    const res = await fs.h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: 'hi',
        tools: [{ type: 'file_search', file_search_store_names: ['fileSearchStores/x'] }],
      }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { message: string } };
    expect(error.message).toContain('tools[0]');
    expect(error.message).toContain('tools.file_search');
  });
});

// Once with a local GGUF through node-llama-cpp (the `llama-cpp` embedding backend).
// stories260K.gguf is not an embedding model: its vectors are real and deterministic but carry
// no useful meaning. The right document still wins because retrieval is hybrid: only
// parking.txt holds the question's words, so it ranks first by words, and reciprocal rank
// fusion (k = 60) puts a document first by words above any document that only ranks by
// vector (1/61 + 1/(60 + r) > 1/61). So this test shows the pipeline end to end (GGUF vectors
// indexed, the query embedded with the store's model, the citation pointing at a retrieved
// document) and relies on the word ranks, not on the vectors' quality.
describe('the file_search tool with a local GGUF embedding model (stories260K.gguf)', () => {
  const gguf = requireStoriesGguf();
  let fs: FileSearchHarness;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oi-file-search-gguf-'));
    fs = await startFileSearchHarness('sqlite', {
      script: searchingModel(() => 'weekends'),
      embeddingModels: () => [
        {
          name: 'local',
          backend: 'llama-cpp',
          path: gguf,
          threads: 1,
          context_size: 256,
          gpu: false,
        },
      ],
      config: { tools: { file_search: {} } },
    });
  });
  afterAll(async () => {
    await fs?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingests with GGUF vectors and answers citing the retrieved document', async () => {
    const ai = fs.h.client();
    const { store, documents } = await createStoreWithDocuments(ai, dir);
    expect((await ai.fileSearchStores.get({ name: store })).embeddingModel).toBe('models/local');
    // The scripted /embeddings server was never asked: the vectors came from the GGUF.
    expect(fs.embeddings.requests).toHaveLength(0);
    const before = fs.h.upstream.requests.length;
    const interaction = await ai.interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: 'Is parking free on weekends?',
        tools: [{ type: 'file_search', file_search_store_names: [store], top_k: 1 }],
      },
      noRetry,
    );
    expect(interaction.status).toBe('completed');
    const shown = passagesShown(fs.h.upstream.requests[before + 1]!);
    expect([...shown.values()].map((p) => p.header)).toEqual([`parking.txt (${documents[0]})`]);
    const { text, annotations } = answerOf(interaction);
    expect(text).toBe('Parking at the office is free on weekends.');
    expect(annotations.map((a) => [a.type, a.document_uri])).toEqual([
      ['file_citation', documents[0]],
    ]);
  });
});
