/**
 * Admission to a local model, decided on the server's thread when an interaction is created.
 *
 * The model on its worker thread bounds its sequences and queue too, but it learns of a request
 * only when the request's first model call arrives: after the interaction was stored, so a refusal
 * there is a stored `failed` interaction, and its stats reach this thread only after the fact (a
 * burst of creates all saw the same free queue). The gate counts places synchronously instead.
 * A place is held from admission until the run has ended and the worker has finished the run's
 * last call (a cancelled call keeps its sequence until the worker notices the abort), so the
 * worker never holds more requests than it has sequences and queue places for. A run keeps its
 * place across tool rounds: giving it back between model calls would let a later round be refused
 * inside the run.
 */
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3StreamResult,
} from '@ai-sdk/provider';
import type { Admission } from '../types.js';
import { collectStream } from './collect-stream.js';

/** Starts a call; `onSettled` runs once the model has finished with it, whatever the outcome. */
export type TrackedStream = (
  options: LanguageModelV3CallOptions,
  onSettled: () => void,
) => Promise<LanguageModelV3StreamResult>;

export class AdmissionGate {
  private held = 0;

  constructor(
    /** Sequences plus queue places. */
    readonly capacity: number,
    private readonly model: LanguageModelV3,
    private readonly stream: TrackedStream,
  ) {}

  admit(): Admission | undefined {
    if (this.held >= this.capacity) return undefined;
    this.held += 1;
    let running = 0;
    let released = false;
    let freed = false;
    const free = () => {
      if (freed || !released || running > 0) return;
      freed = true;
      this.held -= 1;
    };
    const doStream = async (options: LanguageModelV3CallOptions) => {
      running += 1;
      let settled = false;
      const onSettled = () => {
        if (settled) return;
        settled = true;
        running -= 1;
        free();
      };
      try {
        return await this.stream(options, onSettled);
      } catch (err) {
        onSettled();
        throw err;
      }
    };
    const { model } = this;
    const admitted: LanguageModelV3 = {
      specificationVersion: 'v3',
      provider: model.provider,
      modelId: model.modelId,
      supportedUrls: model.supportedUrls,
      doStream,
      doGenerate: async (options) => collectStream((await doStream(options)).stream),
    };
    return {
      model: admitted,
      release: () => {
        released = true;
        free();
      },
    };
  }
}
