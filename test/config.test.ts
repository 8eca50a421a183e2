import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpolateEnv, loadConfigFile, parseConfig, parseConfigYaml } from '../src/config.js';
import { ModelRegistry } from '../src/models/registry.js';

describe('configuration', () => {
  it('interpolates ${ENV} and ${ENV:-default}, keeps $${escaped}, and fails on a missing variable', () => {
    const env = { UPSTREAM_KEY: 'sk-1', EMPTY: '' };
    expect(interpolateEnv('key: ${UPSTREAM_KEY}', env)).toBe('key: sk-1');
    expect(interpolateEnv('a: ${NOPE:-fallback} b: ${EMPTY:-x}', env)).toBe('a: fallback b: x');
    expect(interpolateEnv('literal: $${UPSTREAM_KEY}', env)).toBe('literal: ${UPSTREAM_KEY}');
    expect(() => interpolateEnv('k: ${MISSING_VAR}', env)).toThrow(/MISSING_VAR is not set/);
  });

  it('loads the README example file with defaults filled in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-config-'));
    const path = join(dir, 'open-interactions.yaml');
    writeFileSync(
      path,
      [
        'models:',
        '  - name: gemini-3.5-flash',
        '    backend: openai-compatible',
        '    base_url: http://127.0.0.1:11434/v1',
        '    model: qwen3:8b',
        '    api_key: ${UPSTREAM_KEY}',
        'keys:',
        '  - key: ${OI_KEY_TEAM_A}',
        '    project: team-a',
      ].join('\n'),
    );
    const config = loadConfigFile(path, { UPSTREAM_KEY: 'sk-up', OI_KEY_TEAM_A: 'team-a-key-123' });
    expect(config.models[0]).toMatchObject({ api_key: 'sk-up', model: 'qwen3:8b' });
    expect(config.keys).toEqual([{ key: 'team-a-key-123', project: 'team-a' }]);
    expect(config.server).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      body_limit_bytes: 33554432,
      request_timeout_seconds: 60,
      headers_timeout_seconds: 10,
      idle_timeout_seconds: 72,
    });
    expect(config.limits).toEqual({ unary_deadline_seconds: 600, stream_deadline_seconds: 1200 });
    expect(config.files).toEqual({
      ttl_hours: 48,
      max_file_bytes: 2 * 1024 ** 3,
      max_project_bytes: 20 * 1024 ** 3,
      max_project_files: 10_000,
      max_interaction_bytes: 100 * 1024 ** 2,
    });
  });

  it('an empty ${VAR:-} leaves the setting out: the README example starts with UPSTREAM_KEY unset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-config-'));
    const path = join(dir, 'open-interactions.yaml');
    writeFileSync(
      path,
      [
        'models:',
        '  - name: gemini-3.5-flash',
        '    backend: openai-compatible',
        '    base_url: http://127.0.0.1:11434/v1',
        '    model: qwen3:8b',
        '    api_key: ${UPSTREAM_KEY:-}        # optional',
        'signature_secret: ${OI_SIGNATURE_SECRET:-}',
      ].join('\n'),
    );
    for (const env of [{}, { UPSTREAM_KEY: '' }]) {
      const config = loadConfigFile(path, env);
      expect(config.models[0]).not.toHaveProperty('api_key');
      expect(config).not.toHaveProperty('signature_secret');
      // what stopped the server: the model registry validating the entry
      expect(() => new ModelRegistry(config.models)).not.toThrow();
    }
    expect(loadConfigFile(path, { UPSTREAM_KEY: 'sk-up' }).models[0]).toMatchObject({
      api_key: 'sk-up',
    });
  });

  it('references are resolved in values after parsing: typed like YAML, safe inside flow collections and quotes', () => {
    const env = { KEY: 'sk-1', PORT: '9090', ODD: 'a: b # c', EMPTY: '' };
    const yaml = [
      'server: { port: ${PORT}, host: ${HOST:-127.0.0.1} }',
      'quoted: "${PORT}"',
      'odd: ${ODD}',
      'headers: { Authorization: Bearer ${KEY}, X-Empty: ${EMPTY:-} }',
      'list: [${EMPTY:-}, kept, ${KEY}]',
      'prefixed: pre-${EMPTY:-}',
      'literal: $${KEY}',
      '# a comment may mention ${NEVER_SET}',
    ].join('\n');
    expect(parseConfigYaml(yaml, env)).toEqual({
      server: { port: 9090, host: '127.0.0.1' },
      quoted: '9090',
      odd: 'a: b # c',
      headers: { Authorization: 'Bearer sk-1' },
      list: ['kept', 'sk-1'],
      prefixed: 'pre-',
      literal: '${KEY}',
    });
    expect(() => parseConfigYaml('api_key: ${MISSING_VAR}', env)).toThrow(
      /environment variable MISSING_VAR is not set/,
    );
    // a required setting that comes out empty is reported as missing, by its path
    expect(() =>
      parseConfig(parseConfigYaml('keys:\n  - key: ${TEAM_KEY:-}\n    project: a', env)),
    ).toThrow(/^config: keys\[0\]\.key: /);
  });

  it('a llama-cpp path: that does not exist stops the start-up, naming models[i] and path', () => {
    expect(
      () =>
        new ModelRegistry([
          { name: 'local', backend: 'llama-cpp', path: '/nonexistent/model.gguf' },
        ]),
    ).toThrow('config: models[0] (local): path: no GGUF file at /nonexistent/model.gguf');
    // no path: the default model in the models directory must be there
    const saved = process.env.OI_MODELS_DIR;
    process.env.OI_MODELS_DIR = mkdtempSync(join(tmpdir(), 'oi-models-'));
    try {
      expect(() => new ModelRegistry([{ name: 'local', backend: 'llama-cpp' }])).toThrow(
        /^config: models\[0\] \(local\): path: not set, and the default model is not at .*open-interactions models pull /,
      );
    } finally {
      if (saved === undefined) delete process.env.OI_MODELS_DIR;
      else process.env.OI_MODELS_DIR = saved;
    }
  });

  it('names the setting that is wrong', () => {
    expect(() => parseConfig({ server: { port: 'eighty' } })).toThrow(/^config: server\.port: /);
    expect(() => parseConfig({ servr: {} })).toThrow(/^config: servr: unknown setting/);
    expect(() => parseConfig({ files: { ttl_hour: 1 } })).toThrow(
      /^config: files\.ttl_hour: unknown setting/,
    );
    expect(() => parseConfig({ files: { max_file_bytes: 0 } })).toThrow(
      /^config: files\.max_file_bytes: /,
    );
    expect(() => parseConfig({ server: { request_timeout_seconds: 0 } })).toThrow(
      /^config: server\.request_timeout_seconds: /,
    );
    expect(() => parseConfig({ keys: [{ key: 'short', project: 'p' }] })).toThrow(
      /^config: keys\[0\]\.key/,
    );
  });

  it('resolves model names by glob and alias, first match wins, and rejects an unknown backend', () => {
    const registry = new ModelRegistry([
      {
        name: 'gemini-3.5-flash',
        backend: 'openai-compatible',
        base_url: 'http://127.0.0.1:1/v1',
        model: 'a',
      },
      {
        name: 'gemini-*',
        aliases: ['my-model'],
        backend: 'openai-compatible',
        base_url: 'http://127.0.0.1:1/v1',
        model: 'b',
      },
    ]);
    expect(registry.resolve('gemini-3.5-flash')!.model.modelId).toBe('a');
    expect(registry.resolve('gemini-3-flash-preview')!.model.modelId).toBe('b');
    expect(registry.resolve('my-model')!.publicName).toBe('my-model');
    expect(registry.resolve('gpt-4')).toBeUndefined();
    expect(
      () => new ModelRegistry([{ name: 'gemini-x', backend: 'openai-compatible', model: 'm' }]),
    ).toThrow(/^config: models\[0\] \(gemini-x\): base_url: /);
    expect(() => new ModelRegistry([{ name: 'x', backend: 'carrier-pigeon' }])).toThrow(
      /unknown backend 'carrier-pigeon'/,
    );
  });
});
