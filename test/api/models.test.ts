import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireStoriesGguf } from '../support/gguf.js';
import { startHarness, type Harness } from '../support/harness.js';

/** The Models API through the official SDK (`ai.models.list()` / `ai.models.get()`) and curl. */
describe('Models API', () => {
  let h: Harness;
  const gguf = requireStoriesGguf();
  beforeAll(async () => {
    h = await startHarness({
      store: 'sqlite',
      config: (upstreamUrl) => ({
        models: [
          {
            name: 'gemini-*',
            aliases: ['test-model', 'fast'],
            backend: 'openai-compatible',
            base_url: upstreamUrl,
            model: 'upstream-model',
            display_name: 'Upstream Gemini stand-in',
            description: 'Any gemini-* name, served by the scripted upstream',
            input_token_limit: 32_768,
            output_token_limit: 4096,
          },
          {
            name: 'claude-test',
            backend: 'anthropic',
            base_url: upstreamUrl,
            model: 'claude-upstream',
            api_key: 'anthropic-secret',
          },
          { name: 'local', backend: 'llama-cpp', path: gguf, context_size: 512, threads: 1 },
        ],
      }),
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('ai.models.list() returns every configured name and alias, globs as configured', async () => {
    const pager = await h.client().models.list();
    const models = [];
    for await (const model of pager) models.push(model);
    expect(models.map((m) => m.name)).toEqual([
      'models/gemini-*',
      'models/test-model',
      'models/fast',
      'models/claude-test',
      'models/local',
    ]);
    const [glob, alias, , claude, local] = models;
    expect(glob).toMatchObject({
      displayName: 'Upstream Gemini stand-in',
      description: 'Any gemini-* name, served by the scripted upstream',
      inputTokenLimit: 32_768,
      outputTokenLimit: 4096,
      supportedActions: ['createInteraction'],
    });
    expect(alias!.description).toBe('Any gemini-* name, served by the scripted upstream');
    expect(claude).toMatchObject({
      displayName: 'claude-test',
      supportedActions: ['createInteraction'],
    });
    expect(claude!.inputTokenLimit).toBeUndefined();
    // llama-cpp: the context size is the input limit.
    expect(local).toMatchObject({ inputTokenLimit: 512 });
  });

  it('shows each model’s input modalities (a field of this server; the SDK drops it, curl sees it)', async () => {
    const res = await h.fetch('/v1beta/models');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { models: { name: string; inputModalities: string[] }[] };
    const byName = Object.fromEntries(body.models.map((m) => [m.name, m.inputModalities]));
    expect(byName['models/gemini-*']).toEqual(['text', 'image']);
    expect(byName['models/claude-test']).toEqual(['text', 'image', 'document']);
    expect(byName['models/local']).toEqual(['text']);
  });

  it('pages with pageSize/pageToken (the SDK pager follows nextPageToken)', async () => {
    const first = await h.client({ apiVersion: 'v1beta' }).models.list({ config: { pageSize: 2 } });
    expect(first.page.map((m) => m.name)).toEqual(['models/gemini-*', 'models/test-model']);
    expect(first.hasNextPage()).toBe(true);
    const second = await first.nextPage();
    expect(second.map((m) => m.name)).toEqual(['models/fast', 'models/claude-test']);
    const third = await first.nextPage();
    expect(third.map((m) => m.name)).toEqual(['models/local']);
    expect(first.hasNextPage()).toBe(false);
  });

  it('ai.models.get() resolves a concrete name through a glob, an alias, and a plain entry', async () => {
    const ai = h.client();
    const concrete = await ai.models.get({ model: 'gemini-3.5-flash' });
    expect(concrete).toMatchObject({
      name: 'models/gemini-3.5-flash',
      displayName: 'Upstream Gemini stand-in',
      inputTokenLimit: 32_768,
    });
    const alias = await ai.models.get({ model: 'models/fast' });
    expect(alias.name).toBe('models/fast');
    expect((await ai.models.get({ model: 'local' })).inputTokenLimit).toBe(512);
  });

  it('an unknown model is 404 NOT_FOUND naming it; bad paging is 400 naming the field; no key is 401', async () => {
    const missing = await h.fetch('/v1beta/models/gpt-unknown');
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as { error: { status: string; message: string } };
    expect(body.error.status).toBe('NOT_FOUND');
    expect(body.error.message).toContain('models/gpt-unknown');
    await expect(h.client().models.get({ model: 'gpt-unknown' })).rejects.toThrow(/gpt-unknown/);

    const badSize = await h.fetch('/v1/models?pageSize=-1');
    expect(badSize.status).toBe(400);
    expect(((await badSize.json()) as { error: { message: string } }).error.message).toMatch(
      /^pageSize/,
    );
    const badToken = await h.fetch('/v1/models?pageToken=zzzz');
    expect(badToken.status).toBe(400);
    expect(((await badToken.json()) as { error: { message: string } }).error.message).toMatch(
      /^pageToken/,
    );

    const anonymous = await h.fetch('/v1/models', { key: null });
    expect(anonymous.status).toBe(401);
  });
});
