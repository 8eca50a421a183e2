/**
 * The database an operator command (`keys`, `usage`) works on: `--db URL`, else the config
 * file's `database.url`, else the default file — the same one `serve` would open.
 */
import { existsSync } from 'node:fs';
import { loadConfigFile, parseConfig, type Config } from '../config.js';
import { DEFAULT_DATABASE_URL, openDatabase, type DatabaseHandle } from '../store/database.js';
import { SqlStore } from '../store/sql-store.js';

/** Options every database command takes. */
export const DATABASE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  db: { type: 'string' },
} as const;

export function loadConfig(path: string | undefined): Config {
  if (path) return loadConfigFile(path);
  if (existsSync('open-interactions.yaml')) return loadConfigFile('open-interactions.yaml');
  return parseConfig({});
}

/** Opens (and migrates) the configured database; `close` must be called. */
export async function openConfiguredDatabase(values: {
  config?: string;
  db?: string;
}): Promise<{ config: Config; database: DatabaseHandle; close(): Promise<void> }> {
  const config = loadConfig(values.config);
  const url = values.db ?? config.database?.url ?? DEFAULT_DATABASE_URL;
  const database = openDatabase(url);
  const store = SqlStore.over(database);
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return { config, database, close: () => store.close() };
}
