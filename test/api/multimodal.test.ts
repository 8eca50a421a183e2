import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noRetry, startHarness, type Harness } from '../support/harness.js';

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe('multimodal input', () => {
  let h: Harness;
  let textOnly: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'sqlite' });
    textOnly = await startHarness({
      store: 'sqlite',
      config: {
        models: [
          {
            name: 'gemini-*',
            backend: 'openai-compatible',
            base_url: 'http://127.0.0.1:9/v1',
            model: 'm',
            input_modalities: ['text'],
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await h.close();
    await textOnly.close();
  });

  it('passes inline image data and image URLs to a backend that accepts images', async () => {
    const r = await h.client().interactions.create(
      {
        model: 'gemini-3.5-flash',
        input: [
          { type: 'text', text: 'Describe these.' },
          { type: 'image', data: PNG, mime_type: 'image/png' },
          { type: 'image', uri: 'https://example.com/cat.jpg', mime_type: 'image/jpeg' },
        ],
      },
      noRetry,
    );
    expect(r.status).toBe('completed');
    const content = h.upstream.requests.at(-1)!.messages[0]!.content as {
      type: string;
      image_url?: { url: string };
    }[];
    expect(content.map((c) => c.type)).toEqual(['text', 'image_url', 'image_url']);
    expect(content[1]!.image_url!.url).toBe(`data:image/png;base64,${PNG}`);
    expect(content[2]!.image_url!.url).toBe('https://example.com/cat.jpg');
  });

  it('refuses a modality the backend cannot take with 400 naming the content item', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'image', data: PNG, mime_type: 'image/png' }, 'input'],
      [
        [
          { type: 'text', text: 'hi' },
          { type: 'audio', data: 'AAAA', mime_type: 'audio/wav' },
        ],
        'input[1]',
      ],
      [
        [
          {
            type: 'user_input',
            content: [
              { type: 'text', text: 'x' },
              { type: 'document', data: 'JVBERi0=', mime_type: 'application/pdf' },
            ],
          },
        ],
        'input[0].content[1]',
      ],
    ];
    for (const [input, path] of cases) {
      const res = await textOnly.fetch('/v1beta/interactions', {
        method: 'POST',
        body: JSON.stringify({ model: 'gemini-3.5-flash', input }),
      });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message.startsWith(`${path}: `)).toBe(true);
      expect(error.message).toMatch(/does not accept (image|audio|document) input/);
    }
  });

  it('answers a Files API URI it does not hold with 404 naming the field', async () => {
    const res = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gemini-3.5-flash',
        input: [
          { type: 'text', text: 'x' },
          { type: 'image', uri: 'files/abc123' },
        ],
      }),
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      "input[1].uri: file 'files/abc123' not found",
    );
  });
});
