import type { Step } from '../protocol/types.js';

interface Entry {
  steps: readonly Step[];
  /** The project's history generation the steps were read under. */
  generation: number;
}

/**
 * The histories of recently continued conversations, by their last interaction (the tip), so
 * that the next turn loads one row instead of its whole chain: a chain of 1,000 turns costs
 * milliseconds to read and parse, its tip's own steps microseconds. Bounded by the number of
 * tips and by the steps they hold together (an entry shares its step objects with the entry it
 * was extended from; the bound counts each entry's steps in full, so it is conservative).
 *
 * A stored turn never changes, so a chain stays valid until an interaction is deleted. Every
 * deletion bumps its project's history generation in the database, in the deleting transaction
 * (a trigger filling `history_generations`: migrations.ts, 0009); an entry is used only by a
 * reader that read the generation the entry was filled under, whoever deleted.
 * Hand-written: a Map in insertion order is the whole LRU, no library needed.
 */
export class ConversationTips {
  private readonly entries = new Map<string, Entry>();
  private heldSteps = 0;

  constructor(
    private readonly maxTips = 512,
    private readonly maxSteps = 500_000,
  ) {}

  /** Whether `id` has an entry of any generation (the caller then needs not read its steps). */
  has(project: string, id: string): boolean {
    return this.entries.has(key(project, id));
  }

  /**
   * The history ending at `id` (inclusive), oldest first, when cached under `generation`. An
   * entry of an older generation is stale: it and every other stale entry of the project go.
   */
  get(project: string, id: string, generation: number): readonly Step[] | undefined {
    const k = key(project, id);
    const entry = this.entries.get(k);
    if (entry === undefined) return undefined;
    if (entry.generation < generation) {
      this.dropOlder(project, generation);
      return undefined;
    }
    // newer than the reader's generation: the reader's snapshot is older than the entry's (a
    // concurrent read); the entry is left for readers of its own generation
    if (entry.generation !== generation) return undefined;
    this.entries.delete(k); // most recently used last
    this.entries.set(k, entry);
    return entry.steps;
  }

  /** Caches the history of `id`, read under `generation` (read before or with the steps). */
  set(project: string, id: string, steps: readonly Step[], generation: number): void {
    if (steps.length > this.maxSteps) return;
    const k = key(project, id);
    this.remove(k);
    this.entries.set(k, { steps, generation });
    this.heldSteps += steps.length;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxTips && this.heldSteps <= this.maxSteps) break;
      this.remove(oldest);
    }
  }

  /**
   * The project's tips cached under `generation`, at most `max`, the most recently used first:
   * where a walk up a chain can stop (turns of a conversation served by other nodes since).
   */
  tipsOf(project: string, generation: number, max = 128): string[] {
    const prefix = key(project, '');
    const found: string[] = [];
    for (const [k, entry] of this.entries)
      if (k.startsWith(prefix) && entry.generation === generation)
        found.push(k.slice(prefix.length));
    return found.slice(-max).reverse();
  }

  private dropOlder(project: string, generation: number): void {
    const prefix = key(project, '');
    for (const [k, entry] of this.entries)
      if (k.startsWith(prefix) && entry.generation < generation) this.remove(k);
  }

  private remove(k: string): void {
    const entry = this.entries.get(k);
    if (entry === undefined) return;
    this.entries.delete(k);
    this.heldSteps -= entry.steps.length;
  }
}

const key = (project: string, id: string) => `${project}\u0000${id}`;
