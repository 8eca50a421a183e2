export {
  createLlamaCppModel,
  getSharedLlama,
  makeForcingWrapper,
  type LlamaCppLanguageModel,
  type LlamaCppModelOptions,
  type LlamaCppProviderOptions,
  type LlamaCppStats,
} from './model.js';
export { createLlamaCppWorkerModel } from './worker-model.js';
export { toChatHistory, toolOutputToValue, PROVIDER_KEY } from './prompt.js';
export { toGbnfJsonSchema, anyJsonSchema } from './json-schema.js';
export { overloadedError, promptTooLongError } from './errors.js';
export { createLlamaCppBackend, llamaCppEntrySchema, THOUGHT_BUDGETS } from './backend.js';
export {
  createLlamaCppEmbeddingModel,
  type LlamaCppEmbeddingModel,
  type LlamaCppEmbeddingOptions,
} from './embedding.js';
