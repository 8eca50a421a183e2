import picomatch from 'picomatch';
import { formatPath } from '../protocol/errors.js';
import { createLlamaCppBackend } from './llama-cpp/backend.js';
import { createAnthropicBackend } from './anthropic.js';
import { createGoogleBackend } from './google.js';
import { createOpenAICompatibleBackend } from './openai-compatible.js';
import type { BackendEnvironment, BackendFactory, ModelEntry, ResolvedModel } from './types.js';

const builtInFactories: Record<string, BackendFactory> = {
  'llama-cpp': createLlamaCppBackend,
  'openai-compatible': createOpenAICompatibleBackend,
  anthropic: createAnthropicBackend,
  google: createGoogleBackend,
};

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
      const { aliases: _aliases, ...backendEntry } = entry;
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
}
