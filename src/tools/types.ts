import type { BuiltInToolType } from '../protocol/schemas.js';
import type { JsonObject, JsonValue } from '../protocol/types.js';

/** A function the engine offers the model on behalf of a built-in tool. */
export interface ToolDeclaration {
  /** Function name the model calls (for single-function tools: the tool type, e.g. `google_search`). */
  name: string;
  description: string;
  /** JSON Schema of the arguments (type: object). */
  parameters: JsonObject;
}

/** A source the final answer may cite (search results, fetched pages, document passages). */
export interface ToolSource {
  /** Web sources: the page; file_search passages: the document's name (`fileSearchStores/…/documents/…`). */
  url: string;
  title?: string;
  /** Set for a passage of a File Search document: it is cited as `file_citation`, not `url_citation`. */
  file?: FileCitationSource;
}

/** What a `file_citation` annotation says about a passage (field names as on the wire). */
export interface FileCitationSource {
  document_uri: string;
  file_name?: string;
  /** The passage's text (the SDK: "source attributed for a portion of the text"). */
  source: string;
  page_number?: number;
  custom_metadata?: JsonObject;
}

/** What one executed call produces. */
export interface ToolCallOutcome {
  /**
   * Fields of the `<type>_call` step besides `type`, `id` and `signature`, exactly as the wire
   * schema has them: e.g. `{ arguments: { queries: ['…'] } }`; for MCP `{ name, server_name, arguments }`.
   */
  call: JsonObject;
  /**
   * Fields of the `<type>_result` step besides `type`, `call_id` and `signature`, schema fields
   * only (spec Q-14): e.g. `{ result: [{ url, status }] }`, `{ result: '1024\n', is_error: false }`.
   */
  result: JsonObject;
  /** What the model is shown as the tool's output in this run (may be richer than `result`). */
  modelOutput: JsonValue;
  /** Sources the answer may cite with [n] markers, numbered from 1 in this order. */
  sources?: ToolSource[];
}

/** The step types a tool's calls and results are recorded as. */
export interface ToolStepTypes {
  call: string;
  result: string;
}

/** One request's use of one built-in tool entry (`tools[i]`). */
export interface ToolSession {
  readonly type: BuiltInToolType;
  readonly steps: ToolStepTypes;
  readonly declarations: ToolDeclaration[];
  /**
   * The tool asks the model to cite its `sources` with `[n]` markers. The engine then removes
   * the markers from the answer text and turns them into annotations (engine/citation-markers.ts).
   */
  readonly citationMarkers?: boolean;
  /**
   * Runs one call. Failures the model can react to (page not found, Python exception, time-out)
   * are returned as results with `is_error: true`, not thrown; a throw fails the interaction.
   * Must honour `signal` (cancellation, deadline).
   */
  execute(name: string, args: JsonObject, signal: AbortSignal): Promise<ToolCallOutcome>;
  /**
   * The `<type>_call` step fields of a call, known before it runs (the same as the outcome's
   * `call`). A tool that has it gets its call step written before the call runs, so that a node
   * taking over the run knows a call was under way (engine.ts, resume-point.ts); without it the
   * call and result steps are written together after the call.
   */
  callStep?(name: string, args: JsonObject): JsonObject;
  /**
   * The function call a stored `<type>_call` step of this session records (the inverse of
   * `callStep`), so that a node taking over the run can run it again; undefined when the step is
   * not one of this session's.
   */
  callOf?(step: JsonObject): { name: string; args: JsonObject } | undefined;
  /**
   * Whether a call may run a second time when its node stopped during it (the first run may
   * have had effects nobody recorded). Default true: search, fetches and sandboxed code only
   * read. MCP tools are repeat-safe only when the operator says so for the server.
   */
  readonly repeatSafe?: boolean;
  close?(): Promise<void>;
}

/** Who a session works for. */
export interface ToolContext {
  /** The project of the request (tools that share capacity share it fairly per project). */
  project: string;
}

export interface BuiltInTool {
  readonly type: BuiltInToolType;
  /**
   * Validates one request's tool entry and prepares a session (e.g. connects to an MCP server and
   * lists its tools). An entry that is invalid, or a tool the operator did not configure, throws an
   * ApiError 400 naming `tools[index]` before anything runs. The engine always passes `context`;
   * it is optional so that tools and tests that do not need it can leave it out.
   */
  open(entry: JsonObject, index: number, context?: ToolContext): Promise<ToolSession>;
  /** Releases what the tool keeps between requests (e.g. sandbox workers); called on shutdown. */
  close?(): Promise<void>;
}
