/**
 * Managed API keys (`open-interactions keys …`): rows in `api_keys`, shared by every node.
 *
 * Only a SHA-256 of each key is stored. Why not bcrypt/scrypt: those slow hashes protect
 * low-entropy secrets (passwords) against guessing; our keys are 256 random bits, which no
 * guessing reaches, so a slow hash would only add its cost (tens of ms) to every request. A
 * deterministic digest also lets a request find its key with one indexed equality lookup
 * (`key_hash` is unique), which is what makes a revocation take effect on every node at once:
 * no node caches a key, each request reads the row.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseHandle, ApiKeysTable } from './database.js';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from './database.js';

/** Limits of one key or one project; absent = no limit. */
export interface UsageLimits {
  /** Requests per minute (every API request). */
  rpm?: number;
  /** Tokens (input + output + thought, as `total_tokens`) per minute, from the stored usage. */
  tpm?: number;
  /** Interactions running at once. */
  concurrent_runs?: number;
  /** Bytes of stored interactions (and, per project, files). */
  stored_bytes?: number;
}

export interface ManagedKey {
  id: string;
  project: string;
  name: string | null;
  /** The key's first characters (`oi_AbCd…`), to tell keys apart in a listing. */
  prefix: string;
  limits: UsageLimits;
  created: string;
  expires: string | null;
  revoked: string | null;
}

export const KEY_PREFIX = 'oi_';

/** Hex SHA-256 of a key, as stored. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key: `oi_` and 43 characters of base64url (256 random bits). */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

function fromRow(row: ApiKeysTable): ManagedKey {
  return {
    id: row.id,
    project: row.project,
    name: row.name,
    prefix: row.key_prefix,
    limits: JSON.parse(row.limits) as UsageLimits,
    created: row.created,
    expires: row.expires,
    revoked: row.revoked,
  };
}

const nowIso = () => new Date().toISOString();

export class KeyStore {
  private readonly db: Kysely<DatabaseSchema>;

  constructor(handle: DatabaseHandle) {
    this.db = handle.db;
  }

  /** Stores a new key and returns it with the key in clear (the only time it exists). */
  async create(input: {
    project: string;
    name?: string;
    limits?: UsageLimits;
    expires?: string;
  }): Promise<{ key: string; record: ManagedKey }> {
    const key = generateApiKey();
    const row: ApiKeysTable = {
      id: `key_${randomBytes(8).toString('hex')}`,
      project: input.project,
      name: input.name ?? null,
      key_hash: hashApiKey(key),
      key_prefix: key.slice(0, KEY_PREFIX.length + 6),
      limits: JSON.stringify(input.limits ?? {}),
      created: nowIso(),
      expires: input.expires ?? null,
      revoked: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return { key, record: fromRow(row) };
  }

  /** The key whose digest this is, if it is usable now (not revoked, not expired). */
  async findActive(key: string, now = nowIso()): Promise<ManagedKey | undefined> {
    const row = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', hashApiKey(key))
      .executeTakeFirst();
    if (!row || row.revoked !== null) return undefined;
    if (row.expires !== null && row.expires <= now) return undefined;
    return fromRow(row);
  }

  /** Whether any managed key exists (revoked ones too): then the server is no longer open. */
  async any(): Promise<boolean> {
    const row = await this.db.selectFrom('api_keys').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }

  async list(filter: { project?: string; includeRevoked?: boolean } = {}): Promise<ManagedKey[]> {
    let query = this.db.selectFrom('api_keys').selectAll();
    if (filter.project !== undefined) query = query.where('project', '=', filter.project);
    if (!filter.includeRevoked) query = query.where('revoked', 'is', null);
    const rows = await query.orderBy('project').orderBy('created').orderBy('id').execute();
    return rows.map(fromRow);
  }

  /** Revokes by id; false when no such (unrevoked) key. */
  async revoke(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked: nowIso() })
      .where('id', '=', id)
      .where('revoked', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
