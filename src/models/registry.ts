import picomatch from 'picomatch';
import { formatPath } from '../protocol/errors.js';
import { createLlamaCppBackend } from './llama-cpp/backend.js';
import { createAnthropicBackend } from './anthropic.js';
import { createGoogleBackend } from './google.js';
import { createOpenAICompatibleBackend } from './openai-compatible/backend.js';
import type { BackendEnvironment, BackendFactory, ModelEntry, ResolvedModel } from './types.js';

const builtInFactories: Record<string, BackendFactory> = {
  'llama-cpp': createLlamaCppBackend,
  'openai-compatible': createOpenAICompatibleBackend,
  anthropic: createAnthropicBackend,
  google: createGoogleBackend,
};

/** What the Models API shows of one configured name or alias. */
export interface ModelListing {
  /** The configured name, alias or glob (or, for a lookup, the name asked for). */
  name: string;
  /** The name of the entry it belongs to. */
  entryName: string;
  displayName?: string;
  description?: string;
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  inputModalities: string[];
}

interface RegistryEntry {
  entry: ModelEntry;
  matches: (name: string) => boolean;
  instance?: Omit<ResolvedModel, 'publicName' | 'entryName'>;
}

/**
 * Maps the model names clients send (`gemini-3.5-flash`) to configured backends. Entries are
 * tried in order; `name` may be a glob (`gemini-*`) and `aliases` add more names.
 */
export class ModelRegistry {
  private readonly entries: RegistryEntry[];

  constructor(
    entries: ModelEntry[],
    private readonly env: BackendEnvironment = {},
    private readonly factories: Record<string, BackendFactory> = builtInFactories,
  ) {
    this.entries = entries.map((entry) => {
      const patterns = [entry.name, ...((entry.aliases as string[] | undefined) ?? [])];
      const matchers = patterns.map((p) => picomatch(p, { nocase: false }));
      return { entry, matches: (name: string) => matchers.some((m) => m(name)) };
    });
    // Backends are built at start-up so a wrong entry stops the server with a clear message
    // (model weights and connections still load lazily, on first use).
    this.entries.forEach((registered, i) => {
      const { entry } = registered;
      const factory = this.factories[entry.backend];
      if (!factory) {
        throw new Error(`models: unknown backend '${entry.backend}' for model '${entry.name}'`);
      }
      // Listing fields (GET /{v}/models) are the registry's, not the backend's.
      const {
        aliases: _aliases,
        display_name: _displayName,
        description: _description,
        input_token_limit: _inputTokenLimit,
        output_token_limit: _outputTokenLimit,
        ...backendEntry
      } = entry;
      try {
        registered.instance = factory(backendEntry as ModelEntry, this.env);
      } catch (err) {
        const issue = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
        const detail = issue
          ? `${formatPath(issue.path) || '(entry)'}: ${issue.message}`
          : (err as Error).message;
        throw new Error(`config: models[${i}] (${entry.name}): ${detail}`);
      }
    });
  }

  resolve(name: string): ResolvedModel | undefined {
    const found = this.entries.find((e) => e.matches(name));
    if (!found) return undefined;
    return { ...found.instance!, publicName: name, entryName: found.entry.name };
  }

  /** Frees every backend (native memory of local models). */
  async dispose(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.instance?.dispose?.()));
  }

  names(): string[] {
    return this.entries.map((e) => e.entry.name);
  }

  /**
   * Every configured name and alias, in configuration order (globs as configured), with what
   * the Models API shows of it.
   */
  list(): ModelListing[] {
    return this.entries.flatMap((e) =>
      [e.entry.name, ...((e.entry.aliases as string[] | undefined) ?? [])].map((name) =>
        this.describe(e, name),
      ),
    );
  }

  /** The listing of the entry a client's model name resolves to, under that name. */
  find(name: string): ModelListing | undefined {
    const found = this.entries.find((e) => e.matches(name));
    return found && this.describe(found, name);
  }

  private describe(registered: RegistryEntry, name: string): ModelListing {
    const { entry, instance } = registered;
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const count = (value: unknown) => (typeof value === 'number' ? value : undefined);
    return {
      name,
      entryName: entry.name,
      displayName: text(entry.display_name),
      description: text(entry.description),
      inputTokenLimit: count(entry.input_token_limit) ?? instance!.inputTokenLimit,
      outputTokenLimit: count(entry.output_token_limit),
      inputModalities: [...instance!.inputModalities],
    };
  }
}
