import { z } from 'zod';
import type { LanguageModelV3, SharedV3ProviderOptions } from '@ai-sdk/provider';

/** What the engine needs from a configured model: the backend plus how to talk to it. */
export interface ResolvedModel {
  /** The name the client sent (echoed on the resource). */
  publicName: string;
  /** The configured entry's name/glob that matched. */
  entryName: string;
  backend: string;
  model: LanguageModelV3;
  /** Builds provider-specific options (e.g. reasoning effort) for one call. */
  providerOptions(options: { thinkingLevel?: string }): SharedV3ProviderOptions;
  /** Input modalities the backend accepts. */
  inputModalities: ReadonlySet<string>;
  /** Tokens of input the model takes, when the backend knows it (llama-cpp: `context_size`). */
  inputTokenLimit?: number;
  /**
   * Reserves a place for one interaction on a backend with bounded capacity (local models),
   * synchronously, before anything is stored; `undefined` when none is free (the API answers 503).
   */
  admit?(): Admission | undefined;
  /** Frees what the backend holds (native model memory); called when the server stops. */
  dispose?(): Promise<void>;
}

/** A place on a model held by one run, from admission until the run has ended. */
export interface Admission {
  /** The model to call for this run: its calls count against the place. */
  model: LanguageModelV3;
  /** Gives the place back once the run's calls have ended; safe to call more than once. */
  release(): void;
}

export interface ModelEntry {
  name: string;
  backend: string;
  [key: string]: unknown;
}

/** Creates the backend model of one config entry. */
export type BackendFactory = (
  entry: ModelEntry,
  env: BackendEnvironment,
) => Omit<ResolvedModel, 'publicName' | 'entryName'>;

export interface BackendEnvironment {
  /** Injected fetch (tests, proxies); defaults to global fetch. */
  fetch?: typeof fetch;
}

/** Config-entry fields every hosted or HTTP backend shares (each backend adds its own). */
export const httpBackendEntryFields = {
  name: z.string().min(1),
  /** The upstream's own model name. */
  model: z.string().min(1),
  api_key: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** Content types the upstream accepts in input (others get 400 before the run). */
  input_modalities: z.array(z.enum(['text', 'image', 'audio', 'video', 'document'])).optional(),
};
