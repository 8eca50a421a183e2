import { APICallError } from '@ai-sdk/provider';

const BRAND = Symbol.for('open-interactions.local-model-error');

/**
 * A refusal by a model this server runs itself (queue full, prompt too long, disposed). It is an
 * `APICallError` so the AI SDK's callers see the usual status and retry flag; the brand tells the
 * engine its message was written here, holds no upstream text and may be shown to clients.
 */
export class LocalModelError extends APICallError {
  readonly [BRAND] = true;

  static override isInstance(value: unknown): value is LocalModelError {
    return APICallError.isInstance(value) && BRAND in value;
  }
}
