import type {
  LanguageModelV3FunctionTool,
  LanguageModelV3Message,
  LanguageModelV3Prompt,
  LanguageModelV3ToolChoice,
} from '@ai-sdk/provider';
import type { ResolvedModel } from '../models/types.js';
import type { InteractionError, InteractionStatus } from '../protocol/types.js';
import type { CreateRequest } from '../protocol/validate.js';
import type { ToolSource } from '../tools/types.js';
import type { BuiltInCall } from './model-round.js';
import type { StepWriter } from './step-writer.js';
import type { UsageMeter } from './usage.js';

/**
 * The contract between the engine and agents (src/agents/). An agent interaction is an ordinary
 * run — stored, streamed, resumable, cancellable, usage summed — whose request the agent layer
 * rewrote into a model request (its model, system instruction and tools) and which may bring its
 * own program of model rounds instead of the plain tool loop. The engine never imports agents;
 * the agent layer implements `AgentResolver` and is handed to the interaction service.
 */

export type AssistantPart = Extract<
  LanguageModelV3Message,
  { role: 'assistant' }
>['content'][number];
export type ToolPart = Extract<LanguageModelV3Message, { role: 'tool' }>['content'][number];

/** What one run has at hand: the engine builds it; the tool loop and agent programs drive it. */
export interface RunContext {
  request: CreateRequest;
  /** The model to call (the admitted one when the backend has bounded capacity). */
  model: ResolvedModel;
  /** History and input as prompt messages (the system instruction first, if any). */
  prompt: LanguageModelV3Prompt;
  writer: StepWriter;
  meter: UsageMeter;
  signal: AbortSignal;
  /** Declarations of the client functions and the built-in tools' functions. */
  tools: LanguageModelV3FunctionTool[];
  /** tool_choice of the request, mapped for the first model call. */
  toolChoice?: LanguageModelV3ToolChoice;
  isBuiltIn(name: string): boolean;
  /**
   * Runs built-in tool calls of one model round: each is recorded as a `*_call` and a `*_result`
   * step; returns the assistant's call parts and the results, ready to go back into the prompt.
   */
  runBuiltInCalls(calls: BuiltInCall[]): Promise<{ calls: AssistantPart[]; results: ToolPart[] }>;
  /** Sources the run's tools returned so far, numbered from 1 in this order (citations). */
  sources: readonly ToolSource[];
  /** Faults recorded on the interaction (`errors[]`). */
  errors: InteractionError[];
  onWarning(warning: unknown): void;
}

/** Runs an agent's rounds; resolves to the terminal status (throws to fail the run). */
export interface AgentProgram {
  run(ctx: RunContext): Promise<InteractionStatus>;
}

/** How the engine runs one agent interaction. */
export interface AgentRun {
  /** The agent's name as the client sent it: the interaction carries `agent`, not `model`. */
  name: string;
  /** Model calls for server-run tools before the plain tool loop stops `incomplete`. */
  maxRounds?: number;
  /** Wall-clock limit of the run, instead of the server's unary/stream deadlines. */
  deadlineMs?: number;
  /** Drives the model rounds itself; without one the run is the plain tool loop. */
  program?: AgentProgram;
}

/** An agent request resolved: the request as a model request, and how to run it. */
export interface PreparedAgent {
  request: CreateRequest;
  run: AgentRun;
}

/** Resolves `agent` (a configured agent or a project's custom agent); throws 400s naming fields. */
export interface AgentResolver {
  prepare(project: string, request: CreateRequest): Promise<PreparedAgent>;
  /** Whether a configured agent has this name (a hint when a client sends it as `model`). */
  isAgent(name: string): boolean;
}
