/** `open-interactions usage`: the usage report of the configured database. */
import { parseArgs } from 'node:util';
import {
  USAGE_COLUMNS,
  UsageStore,
  parseUsageTime,
  totalUsage,
  usageCsv,
} from '../store/usage-store.js';
import { DATABASE_OPTIONS, openConfiguredDatabase } from './database.js';
import { formatTable } from './table.js';
import { UsageError } from './usage-error.js';

function parseSince(name: string, text: string): string {
  const time = parseUsageTime(text);
  if (time === undefined)
    throw new UsageError(
      `--${name}: '${text}' is not a day (2026-12-01), a time or a span (7d, 12h)`,
    );
  return time;
}

export async function usage(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...DATABASE_OPTIONS,
      project: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      format: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const format = values.format ?? 'table';
  if (format !== 'table' && format !== 'json' && format !== 'csv')
    throw new UsageError(`--format: expected table, json or csv, got '${format}'`);
  const since = values.since !== undefined ? parseSince('since', values.since) : undefined;
  const until = values.until !== undefined ? parseSince('until', values.until) : undefined;
  const db = await openConfiguredDatabase(values);
  try {
    const rows = await new UsageStore(db.database).report({
      project: values.project,
      since,
      until,
    });
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ rows, total: totalUsage(rows) })}\n`);
    } else if (format === 'csv') {
      process.stdout.write(usageCsv(rows));
    } else {
      const total = totalUsage(rows);
      process.stdout.write(
        formatTable(
          USAGE_COLUMNS.map((c) => c.toUpperCase()),
          [...rows, total].map((r) => USAGE_COLUMNS.map((c) => String(r[c]))),
        ),
      );
    }
    return 0;
  } finally {
    await db.close();
  }
}
