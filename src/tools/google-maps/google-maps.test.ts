import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { json, scripted, type Recorded } from '../../../test/support/recording-server.js';
import { ApiError } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { createGoogleMapsTool, googleMapsConfigSchema, type GoogleMapsConfig } from './index.js';

const EIFFEL = {
  place_id: 12345,
  osm_type: 'way',
  osm_id: 5013364,
  lat: '48.8582599',
  lon: '2.2945006',
  category: 'man_made',
  type: 'tower',
  name: 'Tour Eiffel',
  display_name: 'Tour Eiffel, 5, Avenue Anatole France, Paris, 75007, France',
};
const CAFE = {
  osm_type: 'node',
  osm_id: 42,
  lat: '48.8600',
  lon: '2.2950',
  category: 'amenity',
  type: 'cafe',
  name: '',
  display_name: 'Café de la Tour, Rue X, Paris, France',
};

function nominatim(req: Recorded, res: ServerResponse) {
  if (req.path !== '/search') return json(res, 404, {});
  if (req.query.q === 'boom') return json(res, 503, { error: { message: 'overloaded' } });
  if (req.query.q === 'nothing') return json(res, 200, []);
  if (req.query.q === 'cafe') return json(res, 200, [CAFE]);
  json(res, 200, [EIFFEL, { osm_type: 'weird', osm_id: 1, name: 'dropped' }]);
}

async function run(
  config: GoogleMapsConfig,
  args: JsonObject,
  entry: JsonObject = { type: 'google_maps' },
) {
  const session = await createGoogleMapsTool(config).open(entry, 0);
  return session.execute('google_maps', args, new AbortController().signal);
}

describe('google_maps on Nominatim', () => {
  it('queries /search?q=…&format=jsonv2&limit=5 and records schema-only places', async () => {
    const server = await scripted(nominatim);
    const out = await run(
      { nominatim_url: server.url, user_agent: 'test-agent/1' },
      { queries: ['eiffel tower'] },
    );
    const [req] = server.requests;
    expect(req!.method).toBe('GET');
    expect(req!.path).toBe('/search');
    expect(req!.query).toMatchObject({ q: 'eiffel tower', format: 'jsonv2', limit: '5' });
    expect(req!.query.viewbox).toBeUndefined();
    expect(req!.headers['user-agent']).toBe('test-agent/1');

    expect(out.call).toEqual({ arguments: { queries: ['eiffel tower'] } });
    expect(out.result).toEqual({
      result: [
        {
          places: [
            {
              name: 'Tour Eiffel',
              place_id: 'places/osm-way-5013364',
              url: 'https://www.openstreetmap.org/way/5013364',
            },
          ],
        },
      ],
    });
    expect(out.sources).toBeUndefined();
    const text = out.modelOutput as string;
    expect(text).toContain(
      '1. Tour Eiffel — Tour Eiffel, 5, Avenue Anatole France, Paris, 75007, France',
    );
    expect(text).toContain('type: man_made/tower');
    expect(text).toContain('coordinates: 48.85826, 2.29450');
    expect(text).toContain('https://www.openstreetmap.org/way/5013364');
    expect(text).not.toContain('dropped');
  });

  it('one result entry per query; names fall back to the first part of display_name', async () => {
    const server = await scripted(nominatim);
    const out = await run({ nominatim_url: `${server.url}/` }, { queries: ['cafe', 'nothing'] });
    expect(out.result).toEqual({
      result: [
        {
          places: [
            {
              name: 'Café de la Tour',
              place_id: 'places/osm-node-42',
              url: 'https://www.openstreetmap.org/node/42',
            },
          ],
        },
        { places: [] },
      ],
    });
    expect(out.modelOutput).toContain('"nothing": no places found.');
  });

  it('biases to the user location from the tool entry and gives distances', async () => {
    const server = await scripted(nominatim);
    const out = await run(
      { nominatim_url: server.url },
      { queries: ['eiffel tower'] },
      { type: 'google_maps', latitude: 48.8566, longitude: 2.3522, enable_widget: true },
    );
    const [req] = server.requests;
    expect(req!.query.viewbox).toBe('1.85220,49.35660,2.85220,48.35660');
    expect(req!.query.bounded).toBeUndefined();
    expect(out.modelOutput).toMatch(/4\.\d km from the user/);
    expect(JSON.stringify(out.result)).not.toContain('widget_context_token');
  });

  it('bounds "near me" queries to the area around the user', async () => {
    const server = await scripted(nominatim);
    await run(
      { nominatim_url: server.url, nearby_radius_m: 1110 },
      { queries: ['cafe near me'] },
      { type: 'google_maps', latitude: 10, longitude: 20 },
    );
    const [req] = server.requests;
    expect(req!.query.q).toBe('cafe');
    expect(req!.query.bounded).toBe('1');
    expect(req!.query.viewbox).toBe('19.99000,10.01000,20.01000,9.99000');
  });

  it('falls back to Overpass around the user when Nominatim has nothing', async () => {
    const nom = await scripted((_req, res) => json(res, 200, []));
    const overpass = await scripted((_req, res) =>
      json(res, 200, {
        elements: [
          {
            type: 'node',
            id: 7,
            lat: 10.005,
            lon: 20,
            tags: { name: 'Far Pharmacy', amenity: 'pharmacy' },
          },
          {
            type: 'way',
            id: 8,
            center: { lat: 10.001, lon: 20 },
            tags: {
              name: 'Near Pharmacy',
              amenity: 'pharmacy',
              'addr:street': 'Main St',
              'addr:housenumber': '1',
              'addr:city': 'Town',
            },
          },
          { type: 'node', id: 9, lat: 10, lon: 20, tags: { amenity: 'bench' } },
        ],
      }),
    );
    const out = await run(
      { nominatim_url: nom.url, overpass_url: `${overpass.url}/api/interpreter` },
      { queries: ['pharmacies near me'] },
      { type: 'google_maps', latitude: 10, longitude: 20 },
    );
    const [req] = overpass.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/api/interpreter');
    const ql = new URLSearchParams(req!.body).get('data')!;
    expect(ql).toContain('[out:json]');
    expect(ql).toContain('nwr["amenity"="pharmacy"](around:2000,10,20);');
    expect(ql).toContain('nwr["name"~"pharmacies",i](around:2000,10,20);');
    expect(out.result).toEqual({
      result: [
        {
          places: [
            {
              name: 'Near Pharmacy',
              place_id: 'places/osm-way-8',
              url: 'https://www.openstreetmap.org/way/8',
            },
            {
              name: 'Far Pharmacy',
              place_id: 'places/osm-node-7',
              url: 'https://www.openstreetmap.org/node/7',
            },
          ],
        },
      ],
    });
    expect(out.modelOutput).toContain('1. Near Pharmacy — Main St 1, Town');
    expect(out.modelOutput).toContain('111 m from the user');
  });

  it('reports service failures to the model instead of throwing', async () => {
    const server = await scripted(nominatim);
    const out = await run({ nominatim_url: server.url }, { queries: ['boom', 'eiffel'] });
    expect(out.result).toEqual({
      result: [{ places: [] }, { places: [expect.objectContaining({ name: 'Tour Eiffel' })] }],
    });
    expect(out.modelOutput).toContain(
      '"boom": the map search failed: Nominatim answered HTTP 503: overloaded',
    );
  });

  it('returns an empty result when the call has no queries', async () => {
    const server = await scripted(nominatim);
    const out = await run({ nominatim_url: server.url }, {});
    expect(out.result).toEqual({ result: [] });
    expect(server.requests).toEqual([]);
  });
});

describe('google_maps tool entry', () => {
  const tool = createGoogleMapsTool({ nominatim_url: 'http://127.0.0.1:1' });
  const failure = (entry: JsonObject, index = 2) =>
    tool.open(entry, index).then(
      () => undefined,
      (e: unknown) => e as ApiError,
    );

  it('declares google_maps with queries', async () => {
    const session = await tool.open({ type: 'google_maps' }, 0);
    expect(session.steps).toEqual({ call: 'google_maps_call', result: 'google_maps_result' });
    expect(session.declarations.map((d) => d.name)).toEqual(['google_maps']);
    expect(session.declarations[0]!.parameters).toMatchObject({ required: ['queries'] });
  });

  it('rejects bad fields naming tools[i].<field>', async () => {
    const cases: [JsonObject, RegExp][] = [
      [{ type: 'google_maps', latitude: 91, longitude: 0 }, /^tools\[2\]\.latitude: /],
      [
        { type: 'google_maps', latitude: 0, longitude: '3' },
        /^tools\[2\]\.longitude: expected number/,
      ],
      [
        { type: 'google_maps', enable_widget: 'yes' },
        /^tools\[2\]\.enable_widget: expected boolean/,
      ],
      [{ type: 'google_maps', zoom: 3 }, /^tools\[2\]\.zoom: unknown field/],
      [
        { type: 'google_maps', latitude: 1 },
        /^tools\[2\]\.longitude: required when latitude is set/,
      ],
      [
        { type: 'google_maps', longitude: 1 },
        /^tools\[2\]\.latitude: required when longitude is set/,
      ],
    ];
    for (const [entry, message] of cases) {
      const error = await failure(entry);
      expect(ApiError.isInstance(error), JSON.stringify(entry)).toBe(true);
      expect(error!.code).toBe('invalid_request');
      expect(error!.message).toMatch(message);
    }
  });
});

describe('googleMapsConfigSchema', () => {
  it('requires nominatim_url and applies defaults', () => {
    expect(googleMapsConfigSchema.safeParse({}).success).toBe(false);
    expect(
      googleMapsConfigSchema.parse({ nominatim_url: 'https://nominatim.openstreetmap.org' }),
    ).toMatchObject({
      max_results: 5,
      timeout_seconds: 10,
      user_agent: expect.stringContaining('open-interactions'),
    });
    expect(googleMapsConfigSchema.safeParse({ nominatim_url: 'https://n', bogus: 1 }).success).toBe(
      false,
    );
  });
});
