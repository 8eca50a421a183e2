import picomatch from 'picomatch';
import { createOpenAICompatibleBackend } from './openai-compatible.js';
import type { BackendEnvironment, BackendFactory, ModelEntry, ResolvedModel } from './types.js';

const builtInFactories: Record<string, BackendFactory> = {
  'openai-compatible': createOpenAICompatibleBackend,
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
    for (const { entry } of this.entries) {
      if (!this.factories[entry.backend]) {
        throw new Error(`models: unknown backend '${entry.backend}' for model '${entry.name}'`);
      }
    }
  }

  resolve(name: string): ResolvedModel | undefined {
    const found = this.entries.find((e) => e.matches(name));
    if (!found) return undefined;
    if (!found.instance) {
      const { aliases: _a, ...entry } = found.entry;
      found.instance = this.factories[found.entry.backend]!(entry as ModelEntry, this.env);
    }
    return { ...found.instance, publicName: name, entryName: found.entry.name };
  }

  names(): string[] {
    return this.entries.map((e) => e.entry.name);
  }
}
