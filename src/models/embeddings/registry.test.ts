import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireTestGguf } from '../../../test/support/gguf.js';
import { parseConfig } from '../../config.js';
import { DEFAULT_EMBEDDING_MODEL } from '../download/models.js';
import type { ModelEntry } from '../types.js';
import { EmbeddingRegistry } from './registry.js';

const GGUF = requireTestGguf();
const UPSTREAM = 'http://127.0.0.1:1/v1';
const openai = (fields: Record<string, unknown> = {}): ModelEntry => ({
  name: 'e',
  backend: 'openai-compatible',
  base_url: UPSTREAM,
  model: 'nomic-embed-text',
  ...fields,
});

describe('embedding_models: every field is checked at start-up, by its path', () => {
  const emptyModelsDir = mkdtempSync(join(tmpdir(), 'oi-embedding-models-'));
  const rows: [string, ModelEntry[], string | RegExp][] = [
    [
      'an unknown backend',
      [{ name: 'e', backend: 'carrier-pigeon' }],
      "config: embedding_models[0].backend: unknown backend 'carrier-pigeon' (one of openai-compatible, google, llama-cpp)",
    ],
    [
      'no name',
      [{ backend: 'google', model: 'm' } as never],
      /^config: embedding_models\[0\]\.name: /,
    ],
    ['no backend', [{ name: 'e' } as never], /^config: embedding_models\[0\]\.backend: /],
    ['aliases not a list', [openai({ aliases: 'x' })], /^config: embedding_models\[0\]\.aliases: /],
    [
      'openai-compatible without base_url',
      [openai({ base_url: undefined })],
      /^config: embedding_models\[0\]\.base_url: /,
    ],
    [
      'openai-compatible with a base_url that is no URL',
      [openai({ base_url: 'localhost:11434' })],
      /^config: embedding_models\[0\]\.base_url: /,
    ],
    [
      'openai-compatible without model',
      [openai({ model: undefined })],
      /^config: embedding_models\[0\]\.model: /,
    ],
    [
      'a setting no backend knows',
      [openai({ temperature: 0.2 })],
      'config: embedding_models[0].temperature: unknown setting',
    ],
    [
      'a chat-only setting',
      [openai({ input_modalities: ['text'] })],
      'config: embedding_models[0].input_modalities: unknown setting',
    ],
    ['batch_size 0', [openai({ batch_size: 0 })], /^config: embedding_models\[0\]\.batch_size: /],
    [
      'max_parallel_calls not a number',
      [openai({ max_parallel_calls: 'two' })],
      /^config: embedding_models\[0\]\.max_parallel_calls: /,
    ],
    [
      'a prefix that is not a string',
      [openai({ query_prefix: 1 })],
      /^config: embedding_models\[0\]\.query_prefix: /,
    ],
    [
      'google without model',
      [{ name: 'g', backend: 'google' }],
      /^config: embedding_models\[0\]\.model: /,
    ],
    [
      'google dimensions 0',
      [{ name: 'g', backend: 'google', model: 'gemini-embedding-001', dimensions: 0 }],
      /^config: embedding_models\[0\]\.dimensions: /,
    ],
    [
      'llama-cpp with a path that is not there',
      [{ name: 'l', backend: 'llama-cpp', path: '/nonexistent/embed.gguf' }],
      'config: embedding_models[0].path: no GGUF file at /nonexistent/embed.gguf',
    ],
    [
      'llama-cpp threads 0',
      [{ name: 'l', backend: 'llama-cpp', path: GGUF, threads: 0 }],
      /^config: embedding_models\[0\]\.threads: /,
    ],
    [
      'llama-cpp with an HTTP setting',
      [{ name: 'l', backend: 'llama-cpp', path: GGUF, base_url: UPSTREAM }],
      'config: embedding_models[0].base_url: unknown setting',
    ],
    [
      'llama-cpp dimensions (the model decides them)',
      [{ name: 'l', backend: 'llama-cpp', path: GGUF, dimensions: 64 }],
      'config: embedding_models[0].dimensions: unknown setting',
    ],
    [
      'the second entry is named by its index',
      [openai(), openai({ name: 'f', base_url: 'nope' })],
      /^config: embedding_models\[1\]\.base_url: /,
    ],
  ];
  it.each(rows)('%s', (_, entries, message) => {
    expect(() => new EmbeddingRegistry(entries)).toThrow(message);
  });

  it('llama-cpp without path: the default embedding model must be in the models directory', () => {
    const saved = process.env.OI_MODELS_DIR;
    process.env.OI_MODELS_DIR = emptyModelsDir;
    try {
      expect(() => new EmbeddingRegistry([{ name: '*', backend: 'llama-cpp' }])).toThrow(
        `config: embedding_models[0].path: not set, and the default embedding model is not at ` +
          `${join(emptyModelsDir, DEFAULT_EMBEDDING_MODEL.fileName)}: set path: to a GGUF file, ` +
          `or run open-interactions models pull ${DEFAULT_EMBEDDING_MODEL.ref}`,
      );
    } finally {
      if (saved === undefined) delete process.env.OI_MODELS_DIR;
      else process.env.OI_MODELS_DIR = saved;
    }
  });

  it('the config file: embedding_models is a list of entries with a name and a backend', () => {
    expect(parseConfig({}).embedding_models).toEqual([]);
    expect(() => parseConfig({ embedding_models: { name: 'x' } })).toThrow(
      /^config: embedding_models: /,
    );
    expect(() => parseConfig({ embedding_models: [{ backend: 'google' }] })).toThrow(
      /^config: embedding_models\[0\]\.name: /,
    );
    expect(parseConfig({ embedding_models: [openai()] }).embedding_models).toEqual([openai()]);
  });
});

describe('embedding model names', () => {
  const registry = new EmbeddingRegistry([
    {
      name: 'gemini-embedding-001',
      aliases: ['models/text-embedding-004'],
      backend: 'google',
      model: 'models/gemini-embedding-001',
      base_url: 'http://127.0.0.1:1/v1beta',
      api_key: 'k',
    },
    openai({ name: 'nomic-*', dimensions: 512 }),
    openai({ name: '*', model: 'all-minilm' }),
  ]);

  it('a leading models/ is ignored on both sides; the public name is always models/<name>', () => {
    for (const asked of ['models/gemini-embedding-001', 'gemini-embedding-001']) {
      const found = registry.resolve(asked)!;
      expect(found).toMatchObject({
        publicName: 'models/gemini-embedding-001',
        entryName: 'gemini-embedding-001',
        backend: 'google',
      });
      // the provider adds models/ itself
      expect(found.model.modelId).toBe('gemini-embedding-001');
    }
    // an alias configured with the prefix matches without it, and the other way round
    expect(registry.resolve('text-embedding-004')!.entryName).toBe('gemini-embedding-001');
    expect(registry.resolve('models/text-embedding-004')!.publicName).toBe(
      'models/text-embedding-004',
    );
  });

  it('globs, in order, first match wins; the name asked for is what a store remembers', () => {
    const nomic = registry.resolve('models/nomic-embed-text-v1.5')!;
    expect(nomic).toMatchObject({
      publicName: 'models/nomic-embed-text-v1.5',
      entryName: 'nomic-*',
      backend: 'openai-compatible',
      dimensions: 512,
    });
    expect(nomic.model.modelId).toBe('nomic-embed-text');
    expect(registry.resolve('anything-else')!.model.modelId).toBe('all-minilm');
    expect(registry.resolve('models/')).toBeUndefined();
    expect(registry.names()).toEqual(['gemini-embedding-001', 'nomic-*', '*']);
  });

  it('the first entry is the default, under its own name', () => {
    expect(registry.default()!.publicName).toBe('models/gemini-embedding-001');
    expect(registry.resolve()!.publicName).toBe('models/gemini-embedding-001');
  });

  it('an unknown name resolves to nothing (the caller answers 400)', () => {
    const strict = new EmbeddingRegistry([openai({ name: 'nomic-embed-text' })]);
    expect(strict.resolve('models/text-embedding-3-small')).toBeUndefined();
    expect(strict.resolve('nomic-embed-text')!.entryName).toBe('nomic-embed-text');
  });

  it('a default entry named by a glob: its first plain alias, else its model, and that name finds it again', () => {
    const aliased = new EmbeddingRegistry([openai({ name: 'embed-*', aliases: ['x-*', 'mine'] })]);
    expect(aliased.default()!.publicName).toBe('models/mine');
    const bare = new EmbeddingRegistry([
      openai({ name: 'embed-*' }),
      openai({ name: '*', model: 'other' }),
    ]);
    expect(bare.default()!.publicName).toBe('models/nomic-embed-text');
    // 'embed-*' does not cover 'nomic-embed-text', yet the stored name leads back to the entry
    expect(bare.resolve('models/nomic-embed-text')!.entryName).toBe('embed-*');
    expect(bare.resolve('models/unrelated')!.entryName).toBe('*');
  });

  it('no entries: no default, nothing resolves', async () => {
    const none = new EmbeddingRegistry([]);
    expect(none.default()).toBeUndefined();
    expect(none.resolve()).toBeUndefined();
    expect(none.resolve('models/x')).toBeUndefined();
    expect(none.names()).toEqual([]);
    await none.dispose();
  });
});
