import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/api/app.js';
import { interactionEventSchema, interactionSchema } from '../../src/protocol/schemas.js';
import { parseSse, startHarness, type Harness } from '../support/harness.js';

const FIXTURES = resolve(process.env.OI_GOOGLE_FIXTURES ?? '../shared/fixtures/google-recorded');

interface Document {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, object> };
}

/** A JSON Schema validator over the document's components (`#/components/schemas/{name}`). */
function componentValidator(doc: Document) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'oi', components: doc.components });
  return (name: string, value: unknown): string[] => {
    const validate = ajv.getSchema(`oi#/components/schemas/${name}`);
    if (!validate) throw new Error(`no component ${name}`);
    return validate(value)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  };
}

describe('OpenAPI document', () => {
  let h: Harness;
  let doc: Document;
  let check: ReturnType<typeof componentValidator>;
  beforeAll(async () => {
    h = await startHarness({
      store: 'sqlite',
      config: { admin: { token: 'an-admin-token-of-some-length' } },
    });
    const res = await h.fetch('/openapi.json', { key: null });
    expect(res.status).toBe(200);
    doc = (await res.json()) as Document;
    check = componentValidator(doc);
  });
  afterAll(async () => {
    await h.close();
  });

  it('is valid OpenAPI 3.1 (checked by @seriousme/openapi-schema-validator)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('holds every route the server registers, and no other', () => {
    const served = registeredRoutes(h.server.app)
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS')
      // the playground's page again and its static files (documented with `/`)
      .filter((r) => !r.url.startsWith('/playground/'))
      .map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`))
      .sort();
    expect(served.length).toBeGreaterThan(40);
    expect(documented).toEqual(served);
  });

  const fixtureFiles = readdirSync(FIXTURES);

  it('the recorded Google interactions validate against Interaction (document and zod)', () => {
    const files = fixtureFiles.filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const file of files) {
      const value: unknown = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'));
      expect({ file, errors: check('Interaction', value) }).toEqual({ file, errors: [] });
      expect({ file, ok: interactionSchema.safeParse(value).success }).toEqual({ file, ok: true });
    }
  });

  it('the recorded Google stream events validate against InteractionEvent (document and zod)', () => {
    const files = fixtureFiles.filter((f) => f.endsWith('.chunks.txt'));
    expect(files.length).toBeGreaterThanOrEqual(7);
    let events = 0;
    for (const file of files) {
      const lines = readFileSync(join(FIXTURES, file), 'utf8').split('\n').filter(Boolean);
      for (const [i, line] of lines.entries()) {
        const value: unknown = JSON.parse(line);
        const where = `${file}:${i + 1}`;
        expect({ where, errors: check('InteractionEvent', value) }).toEqual({ where, errors: [] });
        expect({ where, ok: interactionEventSchema.safeParse(value).success }).toEqual({
          where,
          ok: true,
        });
        events += 1;
      }
    }
    expect(events).toBeGreaterThan(50);
  });

  it('a schema rejects what the wire must not carry (the check is not vacuous)', () => {
    expect(check('Interaction', { id: 'x', object: 'interaction', status: 'done' })).not.toEqual(
      [],
    );
    expect(
      check('InteractionEvent', { event_type: 'step.start', index: 0, step: { type: 'nope' } }),
    ).not.toEqual([]);
    // mcp_server_tool_call needs its name and server (once a TS/zod disagreement).
    expect(check('Step', { type: 'mcp_server_tool_call', id: 'c1', arguments: {} })).not.toEqual(
      [],
    );
  });

  it('this server’s own answers validate against the document, route by route', async () => {
    const created = await h.fetch('/v1beta/interactions', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'hello' }),
    });
    expect(created.status).toBe(200);
    const interaction = (await created.json()) as { id: string };
    expect(check('Interaction', interaction)).toEqual([]);

    const streamed = await h.fetch('/v1beta/interactions?alt=sse', {
      method: 'POST',
      body: JSON.stringify({ model: 'gemini-3.5-flash', input: 'stream me' }),
    });
    const payloads = parseSse(await streamed.text()).filter((m) => m.data !== '[DONE]');
    expect(payloads.length).toBeGreaterThan(4);
    for (const m of payloads) expect(check('InteractionEvent', JSON.parse(m.data))).toEqual([]);

    const got = await h.fetch(`/v1/interactions/${interaction.id}?include_input=true`);
    expect(check('Interaction', await got.json())).toEqual([]);
    const models = await h.fetch('/v1beta/models');
    expect(check('ListModelsResponse', await models.json())).toEqual([]);
    const model = await h.fetch('/v1beta/models/gemini-3.5-flash');
    expect(check('Model', await model.json())).toEqual([]);
    const files = await h.fetch('/v1beta/files');
    expect(check('ListFilesResponse', await files.json())).toEqual([]);
    const deleted = await h.fetch(`/v1beta/interactions/${interaction.id}`, { method: 'DELETE' });
    expect(check('Empty', await deleted.json())).toEqual([]);
    for (const bad of [
      h.fetch('/v1beta/interactions', { method: 'POST', body: '{"model":1}' }),
      h.fetch('/v1beta/models/none'),
      h.fetch('/v1beta/files/abc'),
    ]) {
      const res = await bad;
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(check('Error', await res.json())).toEqual([]);
    }
  });

  it('/docs is a self-contained page that renders /openapi.json (nothing from another origin)', async () => {
    const res = await h.fetch('/docs', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("fetch('/openapi.json')");
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="(https?:)?\/\//);
  });
});
