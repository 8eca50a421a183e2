import type { Step } from '../protocol/types.js';

/**
 * The histories of recently continued conversations, by their last interaction (the tip), so
 * that the next turn loads one row instead of its whole chain: a chain of 1,000 turns costs
 * milliseconds to read and parse, its tip's own steps microseconds. Bounded by the number of
 * tips and by the steps they hold together (an entry shares its step objects with the entry it
 * was extended from; the bound counts each entry's steps in full, so it is conservative).
 *
 * Only valid while nothing was deleted: the store clears it on every delete through it, and
 * whenever another connection changed the database (SQLite's `data_version`). Hand-written:
 * a Map in insertion order is the whole LRU, no library needed.
 */
export class ConversationTips {
  private readonly entries = new Map<string, readonly Step[]>();
  private heldSteps = 0;

  constructor(
    private readonly maxTips = 512,
    private readonly maxSteps = 500_000,
  ) {}

  /** The history ending at `id` (inclusive), oldest first; undefined when not cached. */
  get(project: string, id: string): readonly Step[] | undefined {
    const key = `${project}\u0000${id}`;
    const steps = this.entries.get(key);
    if (steps !== undefined) {
      this.entries.delete(key); // most recently used last
      this.entries.set(key, steps);
    }
    return steps;
  }

  set(project: string, id: string, steps: readonly Step[]): void {
    if (steps.length > this.maxSteps) return;
    const key = `${project}\u0000${id}`;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.heldSteps -= old.length;
    }
    this.entries.set(key, steps);
    this.heldSteps += steps.length;
    for (const [oldest, evicted] of this.entries) {
      if (this.entries.size <= this.maxTips && this.heldSteps <= this.maxSteps) break;
      this.entries.delete(oldest);
      this.heldSteps -= evicted.length;
    }
  }

  clear(): void {
    this.entries.clear();
    this.heldSteps = 0;
  }
}
