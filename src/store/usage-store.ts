/**
 * The usage report (`open-interactions usage`, `GET /admin/usage`): tokens and tool calls per
 * UTC day, project, API key and model, summed from the stored interactions' own `usage` and
 * output steps — the numbers the API returned, not an estimate.
 */
import type { Kysely } from 'kysely';
import type { DatabaseHandle, DatabaseSchema } from './database.js';
import type { Step, Usage } from '../protocol/types.js';

export interface UsageFilter {
  project?: string;
  /** ISO day or time: interactions created at or after it. */
  since?: string;
  /** ISO day or time: interactions created before it. */
  until?: string;
}

export interface UsageRow {
  day: string;
  project: string;
  /** `key_…` (managed), `yaml:…` (configured) or `-` (open server). */
  api_key: string;
  /** The model, or `agent:<name>` for an agent interaction. */
  model: string;
  interactions: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  thought_tokens: number;
  total_tokens: number;
  tool_calls: number;
}

export const USAGE_COLUMNS = [
  'day',
  'project',
  'api_key',
  'model',
  'interactions',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'thought_tokens',
  'total_tokens',
  'tool_calls',
] as const satisfies readonly (keyof UsageRow)[];

const PAGE = 500;

/**
 * A report bound: a day (2026-12-01), a time (2026-12-01T10:00:00Z) or a span ago (7d, 12h),
 * as the ISO text rows compare against; undefined when it is none of these.
 */
export function parseUsageTime(text: string, now = Date.now()): string | undefined {
  const span = /^(\d{1,6})([dh])$/.exec(text);
  if (span) {
    const ms = now - Number(span[1]) * (span[2] === 'd' ? 86_400_000 : 3_600_000);
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (!Number.isNaN(day) && new Date(day).toISOString().startsWith(text)) return text;
  const time = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isNaN(time)) return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return undefined;
}

/** Tool calls of an interaction: its output steps of a `…_call` type (functions and built-in tools). */
export function countToolCalls(steps: Step[] | null): number {
  return (steps ?? []).filter((s) => typeof s.type === 'string' && s.type.endsWith('_call')).length;
}

export class UsageStore {
  private readonly db: Kysely<DatabaseSchema>;

  constructor(handle: DatabaseHandle) {
    this.db = handle.db;
  }

  /** The report rows, ordered by day, project, key and model. */
  async report(filter: UsageFilter = {}): Promise<UsageRow[]> {
    const groups = new Map<string, UsageRow>();
    let after: { created: string; id: string } | undefined;
    for (;;) {
      let query = this.db
        .selectFrom('interactions')
        .select([
          'id',
          'project',
          'api_key_id',
          'model',
          'agent',
          'created',
          'usage',
          'output_steps',
        ])
        .orderBy('created')
        .orderBy('id')
        .limit(PAGE);
      if (filter.project !== undefined) query = query.where('project', '=', filter.project);
      if (filter.since !== undefined) query = query.where('created', '>=', filter.since);
      if (filter.until !== undefined) query = query.where('created', '<', filter.until);
      if (after) {
        const { created, id } = after;
        query = query.where((eb) =>
          eb.or([
            eb('created', '>', created),
            eb.and([eb('created', '=', created), eb('id', '>', id)]),
          ]),
        );
      }
      const rows = await query.execute();
      for (const row of rows) {
        const day = row.created.slice(0, 10);
        const model = row.model ?? (row.agent ? `agent:${row.agent}` : '-');
        const apiKey = row.api_key_id ?? '-';
        const id = JSON.stringify([day, row.project, apiKey, model]);
        let group = groups.get(id);
        if (!group) {
          group = emptyRow(day, row.project, apiKey, model);
          groups.set(id, group);
        }
        const usage = row.usage ? (JSON.parse(row.usage) as Usage) : {};
        group.interactions += 1;
        group.input_tokens += usage.total_input_tokens ?? 0;
        group.output_tokens += usage.total_output_tokens ?? 0;
        group.cached_tokens += usage.total_cached_tokens ?? 0;
        group.thought_tokens += usage.total_thought_tokens ?? 0;
        group.total_tokens += usage.total_tokens ?? 0;
        group.tool_calls += countToolCalls(
          row.output_steps ? (JSON.parse(row.output_steps) as Step[]) : null,
        );
      }
      if (rows.length < PAGE) break;
      const last = rows[rows.length - 1]!;
      after = { created: last.created, id: last.id };
    }
    const key = (r: UsageRow) => [r.day, r.project, r.api_key, r.model].join('\u0000');
    return [...groups.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
}

function emptyRow(day: string, project: string, apiKey: string, model: string): UsageRow {
  return {
    day,
    project,
    api_key: apiKey,
    model,
    interactions: 0,
    input_tokens: 0,
    output_tokens: 0,
    cached_tokens: 0,
    thought_tokens: 0,
    total_tokens: 0,
    tool_calls: 0,
  };
}

/** Sums rows into one totals row (its day/project/key/model are `total`). */
export function totalUsage(rows: UsageRow[]): UsageRow {
  const total = emptyRow('total', '', '', '');
  for (const r of rows) {
    total.interactions += r.interactions;
    total.input_tokens += r.input_tokens;
    total.output_tokens += r.output_tokens;
    total.cached_tokens += r.cached_tokens;
    total.thought_tokens += r.thought_tokens;
    total.total_tokens += r.total_tokens;
    total.tool_calls += r.tool_calls;
  }
  return total;
}

/** CSV per RFC 4180: a header line, then one line per row. */
export function usageCsv(rows: UsageRow[]): string {
  const cell = (v: string | number) => {
    const text = String(v);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [
    USAGE_COLUMNS.join(','),
    ...rows.map((r) => USAGE_COLUMNS.map((c) => cell(r[c])).join(',')),
  ]
    .map((l) => `${l}\r\n`)
    .join('');
}
