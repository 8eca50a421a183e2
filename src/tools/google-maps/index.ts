import { z } from 'zod';
import { invalid } from '../../protocol/errors.js';
import type { JsonObject } from '../../protocol/types.js';
import { parseWith } from '../../protocol/validate.js';
import { requestJson } from '../../net/http-json.js';
import type { BuiltInTool, ToolCallOutcome, ToolDeclaration, ToolSession } from '../types.js';
import { queriesFrom } from '../queries.js';

/**
 * `google_maps` (spec §7.5) on OpenStreetMap services: Nominatim finds places by text (biased
 * to the user's location when the request gives one); Overpass, when configured, finds named or
 * tagged features around the user when Nominatim has nothing. The result step carries only the
 * schema's place fields; `place_id` is `places/osm-<type>-<id>`. No `widget_context_token`.
 */

const DEFAULT_USER_AGENT = 'open-interactions/0.1 (self-hosted Gemini Interactions API server)';

/** Operator config (`tools.google_maps` in YAML). */
export const googleMapsConfigSchema = z.strictObject({
  nominatim_url: z.url({ protocol: /^https?$/ }),
  overpass_url: z.url({ protocol: /^https?$/ }).optional(),
  /** Nominatim's usage policy asks for a User-Agent that identifies the application. */
  user_agent: z.string().min(1).default(DEFAULT_USER_AGENT),
  /** Contact address sent as Nominatim's `email` parameter (recommended for heavy use). */
  email: z.string().min(1).optional(),
  accept_language: z.string().min(1).optional(),
  max_results: z.number().int().min(1).max(20).default(5),
  timeout_seconds: z.number().positive().default(10),
  /** Queries run per call; more are dropped. */
  max_queries: z.number().int().min(1).max(20).default(5),
  /** Radius of "near me" searches, in metres. */
  nearby_radius_m: z.number().int().min(100).max(50_000).default(2_000),
});
export type GoogleMapsConfig = z.input<typeof googleMapsConfigSchema>;
type ParsedConfig = z.output<typeof googleMapsConfigSchema>;

const entrySchema = z.strictObject({
  type: z.literal('google_maps'),
  enable_widget: z.boolean().optional(),
  latitude: z.number().min(-90).max(90).optional(),
  longitude: z.number().min(-180).max(180).optional(),
});

/** One place found, with what the model is told about it. */
export interface OsmPlace {
  name: string;
  /** `places/osm-node-123` */
  place_id: string;
  /** `https://www.openstreetmap.org/node/123` */
  url: string;
  osmType: 'node' | 'way' | 'relation';
  osmId: number;
  address?: string;
  category?: string;
  lat?: number;
  lon?: number;
  /** Metres from the user's location, when known. */
  distance?: number;
}

/** The fields a `place_citation` annotation (and the result step) uses. */
export function placeFields(place: OsmPlace): { name: string; place_id: string; url: string } {
  return { name: place.name, place_id: place.place_id, url: place.url };
}

const OSM_TYPES = {
  node: 'node',
  way: 'way',
  relation: 'relation',
  N: 'node',
  W: 'way',
  R: 'relation',
} as const;

function osmPlace(
  rawType: unknown,
  rawId: unknown,
  fields: Omit<OsmPlace, 'place_id' | 'url' | 'osmType' | 'osmId'>,
): OsmPlace | undefined {
  const osmType =
    typeof rawType === 'string' ? OSM_TYPES[rawType as keyof typeof OSM_TYPES] : undefined;
  const osmId = typeof rawId === 'number' ? rawId : typeof rawId === 'string' ? Number(rawId) : NaN;
  if (!osmType || !Number.isSafeInteger(osmId) || osmId <= 0) return undefined;
  return {
    ...fields,
    osmType,
    osmId,
    place_id: `places/osm-${osmType}-${osmId}`,
    url: `https://www.openstreetmap.org/${osmType}/${osmId}`,
  };
}

const num = (value: unknown): number | undefined => {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** Great-circle distance in metres. */
function distance(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const a =
    Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
    Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(a)));
}

interface Location {
  latitude: number;
  longitude: number;
}

/** Words that make a query about the user's surroundings (they are dropped from the query text). */
const NEARBY =
  /\b(?:nearby|near (?:me|here|us)|around (?:me|here)|close (?:to me|by)|in my area)\b/gi;
const isNearby = (query: string) => new RegExp(NEARBY.source, 'i').test(query);

/** Nominatim `/search?q=…&format=jsonv2&limit=…` (+ address details, + a viewbox near the user). */
async function nominatimSearch(
  config: ParsedConfig,
  query: string,
  location: Location | undefined,
  signal: AbortSignal,
): Promise<OsmPlace[]> {
  const nearby = location !== undefined && isNearby(query);
  const q = nearby ? query.replace(NEARBY, ' ').replace(/\s+/g, ' ').trim() || query : query;
  const params = new URLSearchParams({
    q,
    format: 'jsonv2',
    limit: String(config.max_results),
    addressdetails: '1',
  });
  if (location) {
    // A box around the user: a bias for ordinary queries, a hard bound for "near me".
    const span = nearby ? Math.max(config.nearby_radius_m / 111_000, 0.005) : 0.5;
    const { latitude: lat, longitude: lon } = location;
    params.set(
      'viewbox',
      [lon - span, lat + span, lon + span, lat - span].map((v) => v.toFixed(5)).join(','),
    );
    if (nearby) params.set('bounded', '1');
  }
  if (config.email) params.set('email', config.email);
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': config.user_agent,
  };
  if (config.accept_language) headers['accept-language'] = config.accept_language;
  const base = config.nominatim_url.replace(/\/+$/, '');
  const body = await requestJson(
    'Nominatim',
    `${base}/search?${params}`,
    { headers },
    Math.round(config.timeout_seconds * 1000),
    signal,
  );
  if (!Array.isArray(body)) return [];
  const places: OsmPlace[] = [];
  for (const item of body as Record<string, unknown>[]) {
    if (typeof item !== 'object' || item === null) continue;
    const display = typeof item.display_name === 'string' ? item.display_name : '';
    const name =
      (typeof item.name === 'string' && item.name.trim()) || display.split(',')[0]?.trim() || '';
    if (!name) continue;
    const category = [item.category, item.type].filter((v) => typeof v === 'string' && v).join('/');
    const place = osmPlace(item.osm_type, item.osm_id, {
      name,
      ...(display ? { address: display } : {}),
      ...(category ? { category } : {}),
      lat: num(item.lat),
      lon: num(item.lon),
    });
    if (place) places.push(place);
  }
  return places;
}

/** Overpass QL string literal (inside double quotes). */
const qlString = (text: string) => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
const regexEscape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Overpass: features around the user whose name contains the query, or tagged like a query word. */
async function overpassSearch(
  config: ParsedConfig,
  query: string,
  location: Location,
  signal: AbortSignal,
): Promise<OsmPlace[]> {
  const words = query
    .replace(NEARBY, ' ')
    .toLowerCase()
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((w) => w.length > 2);
  const around = `(around:${config.nearby_radius_m},${location.latitude},${location.longitude})`;
  const clauses: string[] = [];
  const phrase = words.join(' ');
  if (phrase) clauses.push(`nwr["name"~"${qlString(regexEscape(phrase))}",i]${around};`);
  // OSM tag values are singular and use underscores: "pharmacies" → pharmacy, "fast food" → fast_food.
  const singular = (w: string) =>
    w.endsWith('ies')
      ? [w, `${w.slice(0, -3)}y`]
      : w.endsWith('s')
        ? [w, w.slice(0, -1), w.slice(0, -2)]
        : [w];
  const values = new Set(words.flatMap(singular));
  if (words.length > 1) for (const v of singular(words.join('_'))) values.add(v);
  for (const word of values) {
    for (const key of ['amenity', 'shop', 'tourism', 'leisure', 'cuisine']) {
      clauses.push(`nwr["${key}"="${qlString(word)}"]${around};`);
    }
  }
  if (clauses.length === 0) return [];
  const seconds = Math.max(1, Math.ceil(config.timeout_seconds));
  const ql = `[out:json][timeout:${seconds}];(${clauses.join('')});out center tags ${config.max_results * 4};`;
  const body = await requestJson(
    'Overpass',
    config.overpass_url!,
    {
      method: 'POST',
      headers: {
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': config.user_agent,
      },
      body: new URLSearchParams({ data: ql }).toString(),
    },
    Math.round(config.timeout_seconds * 1000),
    signal,
  );
  const elements = (body as { elements?: unknown }).elements;
  if (!Array.isArray(elements)) return [];
  const places: OsmPlace[] = [];
  for (const el of elements as Record<string, unknown>[]) {
    if (typeof el !== 'object' || el === null) continue;
    const tags = (el.tags ?? {}) as Record<string, string>;
    if (!tags.name) continue;
    const center = (el.center ?? el) as Record<string, unknown>;
    const street = [tags['addr:street'], tags['addr:housenumber']].filter(Boolean).join(' ');
    const address = [street, [tags['addr:postcode'], tags['addr:city']].filter(Boolean).join(' ')]
      .filter(Boolean)
      .join(', ');
    const kind = ['amenity', 'shop', 'tourism', 'leisure'].find((k) => tags[k]);
    const place = osmPlace(el.type, el.id, {
      name: tags.name,
      ...(address ? { address } : {}),
      ...(kind ? { category: `${kind}/${tags[kind]}` } : {}),
      lat: num(center.lat),
      lon: num(center.lon),
    });
    if (place) places.push(place);
  }
  for (const p of places) {
    if (p.lat !== undefined && p.lon !== undefined) {
      p.distance = distance(location.latitude, location.longitude, p.lat, p.lon);
    }
  }
  places.sort((a, b) => (a.distance ?? Infinity) - (b.distance ?? Infinity));
  return places.slice(0, config.max_results);
}

function formatDistance(metres: number): string {
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

const DECLARATION: ToolDeclaration = {
  name: 'google_maps',
  description:
    'Finds places (addresses, businesses, landmarks, cities) on OpenStreetMap and returns their ' +
    'names, addresses, coordinates and map links. Queries may say "near me" when the user\'s ' +
    'location is known. Refer to places by their names.',
  parameters: {
    type: 'object',
    properties: {
      queries: {
        type: 'array',
        items: { type: 'string' },
        minItems: 1,
        description: 'One or more place searches, e.g. "Eiffel Tower" or "pharmacy near me".',
      },
    },
    required: ['queries'],
  },
};

/** Runs the queries of one call; service failures are reported to the model, not thrown. */
export async function runMapsSearch(
  config: ParsedConfig,
  queries: readonly string[],
  location: Location | undefined,
  signal: AbortSignal,
): Promise<ToolCallOutcome & { places: OsmPlace[][] }> {
  const call: JsonObject = { arguments: { queries: [...queries] } };
  if (queries.length === 0) {
    return {
      call,
      result: { result: [] },
      modelOutput: 'google_maps needs at least one query in "queries".',
      places: [],
    };
  }
  const settled = await Promise.allSettled(
    queries.map(async (query) => {
      let places = await nominatimSearch(config, query, location, signal);
      if (places.length === 0 && location && config.overpass_url) {
        places = await overpassSearch(config, query, location, signal);
      }
      return places;
    }),
  );
  if (signal.aborted) throw signal.reason;
  const perQuery: OsmPlace[][] = [];
  const sections: string[] = [];
  settled.forEach((outcome, i) => {
    const query = queries[i]!;
    if (outcome.status === 'rejected') {
      perQuery.push([]);
      sections.push(
        `"${query}": the map search failed: ${(outcome.reason as Error)?.message ?? String(outcome.reason)}`,
      );
      return;
    }
    const places = outcome.value;
    if (location) {
      for (const p of places) {
        if (p.distance === undefined && p.lat !== undefined && p.lon !== undefined) {
          p.distance = distance(location.latitude, location.longitude, p.lat, p.lon);
        }
      }
    }
    perQuery.push(places);
    if (places.length === 0) {
      sections.push(`"${query}": no places found.`);
      return;
    }
    const lines = [`"${query}":`];
    places.forEach((p, n) => {
      lines.push(
        `${n + 1}. ${p.name}${p.address && p.address !== p.name ? ` — ${p.address}` : ''}`,
      );
      const details: string[] = [];
      if (p.category) details.push(`type: ${p.category}`);
      if (p.lat !== undefined && p.lon !== undefined) {
        details.push(`coordinates: ${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`);
      }
      if (p.distance !== undefined) details.push(`${formatDistance(p.distance)} from the user`);
      details.push(p.url);
      lines.push(`   ${details.join('; ')}`);
    });
    sections.push(lines.join('\n'));
  });
  const header = location
    ? `Places from OpenStreetMap (user location: ${location.latitude}, ${location.longitude}).`
    : 'Places from OpenStreetMap.';
  return {
    call,
    result: { result: perQuery.map((places) => ({ places: places.map(placeFields) })) },
    modelOutput: [header, ...sections].join('\n\n'),
    places: perQuery,
  };
}

/** The `google_maps` built-in tool backed by Nominatim (and optionally Overpass). */
export function createGoogleMapsTool(config: GoogleMapsConfig): BuiltInTool {
  const parsed: ParsedConfig = googleMapsConfigSchema.parse(config);
  return {
    type: 'google_maps',
    async open(entry: JsonObject, index: number): Promise<ToolSession> {
      const tool = parseWith(entrySchema, entry, ['tools', index]);
      if ((tool.latitude === undefined) !== (tool.longitude === undefined)) {
        const missing = tool.latitude === undefined ? 'latitude' : 'longitude';
        const other = missing === 'latitude' ? 'longitude' : 'latitude';
        throw invalid(`tools[${index}].${missing}: required when ${other} is set`);
      }
      const location =
        tool.latitude !== undefined && tool.longitude !== undefined
          ? { latitude: tool.latitude, longitude: tool.longitude }
          : undefined;
      return {
        type: 'google_maps',
        steps: { call: 'google_maps_call', result: 'google_maps_result' },
        declarations: [DECLARATION],
        callStep: (_name, args) => ({
          arguments: { queries: queriesFrom(args, parsed.max_queries) },
        }),
        callOf: (step) => {
          const args = step.arguments as JsonObject | undefined;
          return Array.isArray(args?.queries)
            ? { name: DECLARATION.name, args: { queries: args.queries } }
            : undefined;
        },
        async execute(name, args, signal) {
          if (name !== DECLARATION.name) throw new Error(`google_maps: unknown function '${name}'`);
          const { places: _places, ...outcome } = await runMapsSearch(
            parsed,
            queriesFrom(args, parsed.max_queries),
            location,
            signal,
          );
          return outcome;
        },
      };
    },
  };
}
