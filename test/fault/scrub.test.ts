import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifyRunError } from '../../src/engine/errors.js';
import { Scrubber, collectSecrets, environmentSecrets } from '../../src/engine/scrub.js';
import { parseConfig } from '../../src/config.js';
import { startScriptedServer } from '../support/scripted-server.js';

describe('scrubbing what an upstream says before it is logged', () => {
  const config = parseConfig({
    models: [
      {
        name: 'a',
        backend: 'openai-compatible',
        base_url: 'https://vllm.internal.example:8443/v1',
        model: 'm',
        api_key: 'sk-model-key-1234',
        headers: { 'x-tenant': 'hdr-value-5678' },
      },
      {
        name: 'b',
        backend: 'anthropic',
        model: 'claude',
        base_url: 'https://proxy-user:proxy-pass-9@gateway.example/v1',
      },
    ],
    keys: [{ key: 'tenant-api-key-0001', project: 'p' }],
    tools: { google_search: { endpoint: 'https://search.internal/api', api_key: 'search-key-42' } },
    signature_secret: 'signature-secret-0123456789',
  });

  it('finds every configured secret and upstream host, whatever the setting is called', () => {
    const found = collectSecrets(config);
    expect(found.secrets).toEqual(
      expect.arrayContaining([
        'sk-model-key-1234',
        'hdr-value-5678',
        'proxy-pass-9',
        'proxy-user',
        'tenant-api-key-0001',
        'search-key-42',
        'signature-secret-0123456789',
      ]),
    );
    expect(found.hosts).toEqual(
      expect.arrayContaining(['vllm.internal.example', 'gateway.example', 'search.internal']),
    );
    // ordinary settings are not secrets
    expect(found.secrets).not.toContain('claude');
    expect(found.secrets).not.toContain('m');
  });

  it('removes secrets as sent, JSON-escaped and URL-encoded, and the addresses', () => {
    const scrubber = new Scrubber(collectSecrets(config));
    const text = [
      '{"error":"bad key sk-model-key-1234","headers":{"x-tenant":"hdr-value-5678"}}',
      'proxy said: user proxy-user / proxy-pass-9 refused',
      'getaddrinfo ENOTFOUND vllm.internal.example',
      'connect ECONNREFUSED 10.1.2.3:8443 and [fd00::1]:443',
      'GET https://search.internal/api?key=search-key-42&q=x',
      'Authorization: Bearer some-key-we-never-configured',
    ].join('\n');
    const out = scrubber.scrub(text);
    for (const leak of [
      'sk-model-key-1234',
      'hdr-value-5678',
      'proxy-pass-9',
      'proxy-user',
      'search-key-42',
      'vllm.internal.example',
      'search.internal',
      '10.1.2.3',
      'fd00::1',
      'some-key-we-never-configured',
    ]) {
      expect(out).not.toContain(leak);
    }
    // the rest of the text stays readable for the operator
    expect(out).toContain('ENOTFOUND [host]');
    expect(out).toContain('ECONNREFUSED [address] and [address]');
    expect(out).toContain('"x-tenant":"[redacted]"');
  });

  it("adds a request's MCP server headers to what is removed", () => {
    const tools = [
      {
        type: 'mcp_server',
        name: 'crm',
        url: 'https://mcp.tenant.example/mcp',
        headers: { Authorization: 'Token mcp-credential-77' },
      },
    ];
    const out = new Scrubber(collectSecrets(config))
      .with(collectSecrets(tools))
      .scrub('MCP answered 401 to Token mcp-credential-77 at mcp.tenant.example');
    expect(out).toBe('MCP answered 401 to [redacted] at [host]');
  });

  it('takes provider keys from the environment (a backend without api_key reads them)', () => {
    const env = { ANTHROPIC_API_KEY: 'env-anthropic-key', HOME: '/home/me', PATH: '/usr/bin' };
    expect(environmentSecrets(env)).toEqual(['env-anthropic-key']);
  });
});

describe('classifying failures by type and code, not by message', () => {
  it('a refused connection is unreachable', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    const err = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(classifyRunError(err)).toEqual({ fault: 'unreachable' });
  });

  it('an AbortSignal timeout is a timeout', async () => {
    const held = await startScriptedServer(() => held.hold());
    try {
      const err = await fetch(`http://127.0.0.1:${held.port}/`, {
        signal: AbortSignal.timeout(100),
      }).catch((e: unknown) => e);
      expect(classifyRunError(err)).toEqual({ fault: 'timed_out' });
    } finally {
      await held.close();
    }
  });

  it('an error the upstream reports inside its stream (plain data) is a backend failure', () => {
    expect(classifyRunError({ message: 'overloaded', type: 'server_error' })).toEqual({
      fault: 'failed',
    });
    // and a bug of ours stays internal, whatever its message says
    expect(classifyRunError(new Error('socket terminated: network fetch failed'))).toEqual({
      fault: 'internal',
    });
  });
});
