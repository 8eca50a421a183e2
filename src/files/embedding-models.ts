/**
 * File Search embeds with the models of `embedding_models:` (src/models/embeddings): a store
 * remembers the public name its model resolved to, and every batch of its passages is embedded
 * through `embedAll` (the model's document prefix or task type, its batching, retries of
 * transient upstream failures, unit-length vectors).
 */
import { embedAll, type EmbeddingRegistry } from '../models/embeddings/index.js';
import { IngestionError, RPC, type EmbeddingModels } from './ingestion-ports.js';

export function createEmbeddingModels(registry: EmbeddingRegistry): EmbeddingModels {
  return {
    resolve: (name) => registry.resolve(name),
    async embedDocuments(publicName, texts, { signal }) {
      const model = registry.resolve(publicName);
      if (!model) {
        throw new IngestionError(
          `the store's embedding model '${publicName}' is no longer configured (embedding_models:)`,
          false,
          RPC.FAILED_PRECONDITION,
        );
      }
      return embedAll(model, texts, { kind: 'document', signal });
    },
  };
}
