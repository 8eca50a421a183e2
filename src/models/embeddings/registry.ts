/**
 * The embedding models of `embedding_models:` by the names clients give them
 * (`fileSearchStores.create({config: {embeddingModel}})`).
 *
 * Names: Google's API names models `models/<id>`, and clients send either form. A leading
 * `models/` is ignored, in what clients send and in `name` / `aliases` of an entry, so
 * `models/gemini-embedding-001` and `gemini-embedding-001` match the same entry. Entries are
 * tried in order; `name` and `aliases` may be globs (`gemini-embedding-*`, `*`). The first entry
 * is the default, for stores created without `embeddingModel`.
 *
 * The public name a store remembers is always `models/<name>`: the name asked for, or for the
 * default its entry's own name (when `name` is a glob: its first plain alias, else the backend's
 * model id). Resolving that name again finds the same entry.
 */
import picomatch from 'picomatch';
import { z } from 'zod';
import { formatPath } from '../../protocol/errors.js';
import type { BackendEnvironment, ModelEntry } from '../types.js';
import { createGoogleEmbeddingBackend } from './google.js';
import { createLlamaCppEmbeddingBackend } from './llama-cpp.js';
import { createOpenAICompatibleEmbeddingBackend } from './openai-compatible.js';
import type { EmbeddingBackend, EmbeddingBackendFactory, ResolvedEmbeddingModel } from './types.js';

const builtInFactories: Record<string, EmbeddingBackendFactory> = {
  'openai-compatible': createOpenAICompatibleEmbeddingBackend,
  google: createGoogleEmbeddingBackend,
  'llama-cpp': createLlamaCppEmbeddingBackend,
};

const MODELS_PREFIX = 'models/';

/** `models/x` → `x`. */
export function stripModelsPrefix(name: string): string {
  return name.startsWith(MODELS_PREFIX) ? name.slice(MODELS_PREFIX.length) : name;
}

const entrySchema = z.looseObject({
  name: z.string().min(1),
  backend: z.string().min(1),
  aliases: z.array(z.string().min(1)).optional(),
});

interface RegisteredEntry {
  name: string;
  /** The public name (without `models/`) when this entry is picked as the default. */
  canonicalName: string;
  matches(name: string): boolean;
  backend: EmbeddingBackend;
}

export class EmbeddingRegistry {
  private readonly entries: RegisteredEntry[];

  /**
   * Builds every backend now, so a wrong entry stops the start-up with a message naming
   * `embedding_models[i].<field>` (weights and connections still load on first use).
   */
  constructor(
    entries: ModelEntry[],
    env: BackendEnvironment = {},
    factories: Record<string, EmbeddingBackendFactory> = builtInFactories,
  ) {
    // Nothing is started here (workers and connections wait for the first call), so an entry
    // that fails leaves nothing behind from the ones before it.
    this.entries = entries.map((raw, i) => register(raw, i, env, factories));
  }

  /**
   * The model for a name a client sent (`models/x` or `x`), or the default when `name` is
   * undefined; `undefined` when nothing matches (the caller answers 400 naming its field).
   */
  resolve(name?: string): ResolvedEmbeddingModel | undefined {
    if (name === undefined) return this.default();
    const wanted = stripModelsPrefix(name);
    if (wanted === '') return undefined;
    const found = this.entries.find((e) => e.matches(wanted));
    return found && resolved(found, wanted);
  }

  /** The first entry, under its canonical name; undefined when none is configured. */
  default(): ResolvedEmbeddingModel | undefined {
    const first = this.entries[0];
    return first && resolved(first, first.canonicalName);
  }

  /** The configured entries' names, in order. */
  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  /** Frees every backend (worker threads and native memory of local models). */
  async dispose(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.backend.dispose?.()));
  }
}

function resolved(entry: RegisteredEntry, name: string): ResolvedEmbeddingModel {
  return { ...entry.backend, publicName: MODELS_PREFIX + name, entryName: entry.name };
}

function register(
  raw: ModelEntry,
  index: number,
  env: BackendEnvironment,
  factories: Record<string, EmbeddingBackendFactory>,
): RegisteredEntry {
  const fail = (path: PropertyKey[], message: string) =>
    new Error(`config: ${formatPath(['embedding_models', index, ...path])}: ${message}`);
  const head = entrySchema.safeParse(raw);
  if (!head.success) {
    const issue = head.error.issues[0]!;
    throw fail(issue.path, issue.message);
  }
  const { aliases = [], ...entry } = head.data;
  const factory = factories[entry.backend];
  if (!factory) {
    throw fail(
      ['backend'],
      `unknown backend '${entry.backend}' (one of ${Object.keys(factories).join(', ')})`,
    );
  }
  let backend: EmbeddingBackend;
  try {
    backend = factory(entry as ModelEntry, env);
  } catch (err) {
    if (!(err instanceof z.ZodError)) throw fail([], (err as Error).message);
    const issue = err.issues[0]!;
    if (issue.code === 'unrecognized_keys')
      throw fail([...issue.path, issue.keys[0] ?? ''], 'unknown setting');
    throw fail(issue.path, issue.message);
  }
  const patterns = [entry.name, ...aliases].map(stripModelsPrefix);
  const matchers = patterns.map((p) => picomatch(p));
  const plain = patterns.find((p) => !picomatch.scan(p).isGlob);
  const canonicalName = plain ?? stripModelsPrefix(backend.model.modelId);
  return {
    name: entry.name,
    canonicalName,
    // The canonical name always leads back here, even when no pattern covers a model id.
    matches: (name) => name === canonicalName || matchers.some((m) => m(name)),
    backend,
  };
}
