/** `open-interactions keys create|list|revoke`: managed API keys in the configured database. */
import { parseArgs } from 'node:util';
import { KeyStore, type ManagedKey, type UsageLimits } from '../store/key-store.js';
import { DATABASE_OPTIONS, openConfiguredDatabase } from './database.js';
import { formatTable } from './table.js';
import { UsageError } from './usage-error.js';

const DURATION = /^(\d+)([dhm])$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** `--expires`: a date (2027-01-31), a time (2027-01-31T12:00:00Z) or a duration from now (30d, 12h, 90m). */
export function parseExpiry(text: string, now = Date.now()): string {
  const duration = DURATION.exec(text);
  let ms: number;
  if (duration) ms = now + Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
  else if (/^\d{4}-\d{2}-\d{2}$/.test(text)) ms = Date.parse(`${text}T00:00:00Z`);
  else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) ms = Date.parse(text);
  else ms = NaN;
  if (Number.isNaN(ms))
    throw new UsageError(
      `--expires: '${text}' is not a date (2027-01-31), a time or a duration (30d, 12h)`,
    );
  if (ms <= now) throw new UsageError(`--expires: '${text}' is not in the future`);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`--${name}: '${text}' is not a positive whole number`);
  return n;
}

function formatLimits(limits: UsageLimits): string {
  const parts = Object.entries(limits).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(' ') : '-';
}

function keyStatus(key: ManagedKey, now: string): string {
  if (key.revoked) return `revoked ${key.revoked}`;
  if (key.expires && key.expires <= now) return 'expired';
  return 'active';
}

export async function keysCreate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...DATABASE_OPTIONS,
      project: { type: 'string' },
      name: { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'concurrent-runs': { type: 'string' },
      'stored-bytes': { type: 'string' },
      expires: { type: 'string' },
      format: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (!values.project) throw new UsageError('--project: required (the project the key acts for)');
  const format = values.format ?? 'text';
  if (format !== 'text' && format !== 'json')
    throw new UsageError(`--format: expected text or json, got '${format}'`);
  const limits: UsageLimits = {};
  const rpm = positiveInt('rpm', values.rpm);
  const tpm = positiveInt('tpm', values.tpm);
  const concurrent = positiveInt('concurrent-runs', values['concurrent-runs']);
  const stored = positiveInt('stored-bytes', values['stored-bytes']);
  if (rpm !== undefined) limits.rpm = rpm;
  if (tpm !== undefined) limits.tpm = tpm;
  if (concurrent !== undefined) limits.concurrent_runs = concurrent;
  if (stored !== undefined) limits.stored_bytes = stored;
  const expires = values.expires !== undefined ? parseExpiry(values.expires) : undefined;
  const db = await openConfiguredDatabase(values);
  try {
    const { key, record } = await new KeyStore(db.database).create({
      project: values.project,
      name: values.name,
      limits,
      expires,
    });
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ key, ...record })}\n`);
    } else {
      process.stdout.write(
        `${key}\n\n` +
          `id:       ${record.id}\n` +
          `project:  ${record.project}\n` +
          `name:     ${record.name ?? '-'}\n` +
          `limits:   ${formatLimits(record.limits)}\n` +
          `expires:  ${record.expires ?? 'never'}\n`,
      );
      process.stderr.write(
        'The key is shown only this once (the database keeps only its SHA-256): store it now.\n',
      );
    }
    return 0;
  } finally {
    await db.close();
  }
}

export async function keysList(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...DATABASE_OPTIONS,
      project: { type: 'string' },
      all: { type: 'boolean' },
      format: { type: 'string' },
    },
    strict: true,
  });
  const format = values.format ?? 'table';
  if (format !== 'table' && format !== 'json')
    throw new UsageError(`--format: expected table or json, got '${format}'`);
  const db = await openConfiguredDatabase(values);
  try {
    const keys = await new KeyStore(db.database).list({
      project: values.project,
      includeRevoked: values.all === true,
    });
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify(keys)}\n`);
      return 0;
    }
    const now = new Date().toISOString();
    process.stdout.write(
      formatTable(
        ['ID', 'PROJECT', 'NAME', 'KEY', 'LIMITS', 'CREATED', 'EXPIRES', 'STATUS'],
        keys.map((k) => [
          k.id,
          k.project,
          k.name ?? '-',
          `${k.prefix}…`,
          formatLimits(k.limits),
          k.created,
          k.expires ?? 'never',
          keyStatus(k, now),
        ]),
      ),
    );
    return 0;
  } finally {
    await db.close();
  }
}

export async function keysRevoke(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: DATABASE_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('give the id of the key to revoke (key_…)');
  const db = await openConfiguredDatabase(values);
  try {
    const keys = new KeyStore(db.database);
    let missing = 0;
    for (const id of positionals) {
      if (await keys.revoke(id)) process.stdout.write(`revoked ${id}\n`);
      else {
        process.stderr.write(`no active key with id '${id}'\n`);
        missing++;
      }
    }
    return missing > 0 ? 1 : 0;
  } finally {
    await db.close();
  }
}
