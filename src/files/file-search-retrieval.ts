/**
 * Retrieval for the `file_search` tool (spec §7.4): which stores a request may search, and the
 * passages a query finds in them. Every lookup takes the caller's project, so another project's
 * store is "not found" whatever its name. A query is embedded with each store's own embedding
 * model (the model its documents were embedded with); stores of one model are searched together
 * (hybrid: vector and word ranks fused, src/store/search-index), stores of different models
 * apart, their hits merged by fused score.
 */
import { embedAll, type EmbeddingRegistry } from '../models/embeddings/index.js';
import { invalid } from '../protocol/errors.js';
import { RESOURCE_ID } from '../protocol/file-search.js';
import type { FileSearchStore } from '../store/file-search-store.js';
import type { MetadataFilter, SearchHit, SearchIndex } from '../store/search-index/types.js';

/** A store a request named, checked to belong to its project. */
export interface SearchableStore {
  id: string;
  /** The store's embedding model (`models/…`), as it remembers it. */
  embeddingModel: string;
}

export interface PassageQuery {
  project: string;
  stores: readonly SearchableStore[];
  query: string;
  topK: number;
  filter?: MetadataFilter;
  signal: AbortSignal;
}

export class FileSearchRetriever {
  constructor(
    private readonly o: {
      store: FileSearchStore;
      index: SearchIndex;
      embeddings: EmbeddingRegistry;
    },
  ) {}

  /**
   * The stores `names` (`fileSearchStores/{id}`) of the caller's project, in order. A name that
   * is malformed, unknown or another project's gets a 400 naming `${path}[j]`.
   */
  async resolveStores(
    project: string,
    names: readonly string[],
    path: string,
  ): Promise<SearchableStore[]> {
    const stores: SearchableStore[] = [];
    for (const [j, name] of names.entries()) {
      const id = /^fileSearchStores\/(.+)$/.exec(name)?.[1];
      const store =
        id && RESOURCE_ID.test(id) ? await this.o.store.getStore(project, id) : undefined;
      if (!store) {
        throw invalid(
          `${path}[${j}]: file search store '${name.slice(0, 200)}' not found (names look like fileSearchStores/{id})`,
        );
      }
      if (!stores.some((s) => s.id === store.id)) {
        stores.push({ id: store.id, embeddingModel: store.embeddingModel });
      }
    }
    return stores;
  }

  /**
   * The best `topK` passages for `query` in `stores`, best first. Throws when a store's
   * embedding model is no longer configured or the embedding backend fails.
   */
  async search(q: PassageQuery): Promise<SearchHit[]> {
    const byModel = new Map<string, string[]>();
    for (const s of q.stores)
      byModel.set(s.embeddingModel, [...(byModel.get(s.embeddingModel) ?? []), s.id]);
    const groups = await Promise.all(
      [...byModel].map(async ([modelName, storeIds]) => {
        const model = this.o.embeddings.resolve(modelName);
        if (!model) {
          throw new Error(
            `the embedding model '${modelName}' of the store is no longer configured (embedding_models:)`,
          );
        }
        const [vector] = await embedAll(model, [q.query], { kind: 'query', signal: q.signal });
        return this.o.index.search({
          project: q.project,
          storeIds,
          vector: vector!,
          text: q.query,
          topK: q.topK,
          filter: q.filter,
        });
      }),
    );
    if (groups.length === 1) return groups[0]!;
    return groups
      .flat()
      .sort((a, b) => b.score - a.score)
      .slice(0, q.topK);
  }
}
