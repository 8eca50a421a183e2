export { EmbeddingRegistry, stripModelsPrefix } from './registry.js';
export { embedAll, planBatches, EmbeddingError, type EmbedAllOptions } from './embed-all.js';
export type {
  EmbeddingBackend,
  EmbeddingBackendFactory,
  EmbeddingBatching,
  EmbeddingKind,
  EmbeddingRequest,
  ResolvedEmbeddingModel,
} from './types.js';
