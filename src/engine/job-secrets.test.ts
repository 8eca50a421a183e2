import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../protocol/types.js';
import { JobSealer, parseSecretKey } from './job-secrets.js';

const body: JsonObject = {
  model: 'gemini-3.5-flash',
  input: 'hi',
  background: true,
  tools: [
    { type: 'url_context' },
    {
      type: 'mcp_server',
      name: 'pay',
      url: 'https://pay.example/mcp',
      headers: { Authorization: 'Bearer s3cret-token' },
    },
  ],
};

describe('job secrets', () => {
  it('seals MCP headers out of the job body and puts them back on any node with the key', () => {
    const key = randomBytes(32);
    const parts = new JobSealer(key).split('v1_abc', body);
    expect(JSON.stringify(parts)).not.toContain('s3cret-token');
    expect(parts.body.tools).toEqual([
      { type: 'url_context' },
      { type: 'mcp_server', name: 'pay', url: 'https://pay.example/mcp' },
    ]);
    // Another node, the same key.
    expect(new JobSealer(Buffer.from(key)).join('v1_abc', parts)).toEqual(body);
  });

  it('refuses another key, and a sealed value moved to another interaction', () => {
    const parts = new JobSealer(randomBytes(32)).split('v1_abc', body);
    expect(() => new JobSealer(randomBytes(32)).join('v1_abc', parts)).toThrow(
      /do not open with this node's run_queue\.secret_key/,
    );
    expect(() => new JobSealer().join('v1_abc', parts)).toThrow(/run_queue\.secret_key/);
    const key = randomBytes(32);
    const moved = new JobSealer(key).split('v1_abc', body);
    expect(() => new JobSealer(key).join('v1_other', moved)).toThrow(/do not open/);
  });

  it('without a key keeps no credential and says which were left out', () => {
    const parts = new JobSealer().split('v1_abc', body);
    expect(JSON.stringify(parts)).not.toContain('s3cret-token');
    expect(parts.sealed).toBeUndefined();
    expect(parts.withheld).toEqual(['tools[1].headers']);
    expect(() => new JobSealer(randomBytes(32)).join('v1_abc', parts)).toThrow(
      /tools\[1\]\.headers.*run_queue\.secret_key/,
    );
  });

  it('leaves a body without headers as it is', () => {
    const plain: JsonObject = { model: 'm', input: 'x', tools: [{ type: 'code_execution' }] };
    expect(new JobSealer().split('v1_abc', plain)).toEqual({ body: plain });
    expect(new JobSealer().join('v1_abc', { body: plain })).toEqual(plain);
  });

  it('reads the key as hex or base64 of 32 bytes', () => {
    const raw = randomBytes(32);
    expect(parseSecretKey(raw.toString('hex'))).toEqual(raw);
    expect(parseSecretKey(raw.toString('base64'))).toEqual(raw);
    expect(() => parseSecretKey('too-short')).toThrow(/run_queue\.secret_key: must be 32 bytes/);
  });
});
