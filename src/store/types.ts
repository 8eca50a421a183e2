import type {
  InteractionError,
  InteractionStatus,
  JsonObject,
  Step,
  Usage,
} from '../protocol/types.js';

/** One interaction's row. Output steps are the fold of its events, compacted when it finishes. */
export interface InteractionRecord {
  id: string;
  project: string;
  parentId: string | null;
  status: InteractionStatus;
  model: string | null;
  agent: string | null;
  created: string;
  updated: string;
  background: boolean;
  ownerNode: string | null;
  inputSteps: Step[];
  outputSteps: Step[] | null;
  /** Request fields echoed on get (system_instruction, tools, generation_config, input, …). */
  request: JsonObject;
  usage: Usage | null;
  errors: InteractionError[] | null;
  /** The API key that created it (usage per key); written on create, not read back. */
  apiKeyId?: string | null;
}

/** An event exactly as it went over the wire: `data` is the JSON text of the SSE data line. */
export interface StoredEvent {
  seq: number;
  data: string;
}

/** Row changes that go with a batch of events (the terminal state of a run). */
export interface InteractionUpdate {
  status?: InteractionStatus;
  updated?: string;
  outputSteps?: Step[];
  usage?: Usage | null;
  errors?: InteractionError[] | null;
  ownerNode?: string | null;
}

export interface EventBatch {
  interactionId: string;
  events: StoredEvent[];
  update?: InteractionUpdate;
  /**
   * The interaction's row, inserted with these events (and `update` applied to it): a
   * non-streaming create written whole at its end, in one transaction.
   */
  create?: InteractionRecord;
}

export interface HistoryChain {
  /** Steps of the whole chain, oldest first: each interaction's input steps then output steps. */
  steps: Step[];
  /** True when an ancestor named by a parent link no longer exists (deleted or expired). */
  broken: boolean;
}

export interface UnfinishedInteraction {
  id: string;
  project: string;
  lastSeq: number;
}

/**
 * The persistence boundary. One implementation (`SqlStore`) runs on SQLite and PostgreSQL
 * through one query builder; every query that reads a client-visible row takes the project.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  createInteraction(record: InteractionRecord, events: StoredEvent[]): Promise<void>;
  /** Appends several interactions' events in one transaction (group commit). */
  appendEvents(batches: EventBatch[]): Promise<void>;
  getInteraction(project: string, id: string): Promise<InteractionRecord | undefined>;
  listEvents(interactionId: string, afterSeq?: number): Promise<StoredEvent[]>;
  /** The chain ending at `id` (inclusive), loaded in one recursive query. */
  loadHistory(project: string, id: string): Promise<HistoryChain | undefined>;
  deleteInteraction(project: string, id: string): Promise<boolean>;
  requestCancel(project: string, id: string): Promise<void>;
  isCancelRequested(id: string): Promise<boolean>;
  /** Interactions left running by the given node (or by nodes whose heartbeat is older). */
  findUnfinished(filter: {
    ownerNode?: string;
    staleBefore?: string;
  }): Promise<UnfinishedInteraction[]>;
  heartbeat(node: string, at: string): Promise<void>;
  /** Deletes interactions (and their events) created before the cut-off. */
  deleteCreatedBefore(cutoff: string): Promise<number>;
}
