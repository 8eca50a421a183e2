/**
 * Fair sandbox slots: at most `total` programs run at once, and at most `perProject` of them
 * belong to one project, so one project's long-running programs cannot take every slot. Beyond
 * either limit a program is refused at once (there is no queue; the model sees the refusal and
 * may retry).
 */
export type SlotGrant = { release(): void } | { refused: string };

/** The default per-project share: half the slots (at least one). */
export function defaultPerProject(total: number): number {
  return Math.max(1, Math.floor(total / 2));
}

export class ProjectSlots {
  private readonly byProject = new Map<string, number>();
  private used = 0;

  constructor(
    readonly total: number,
    readonly perProject: number,
  ) {}

  get running(): number {
    return this.used;
  }

  acquire(project: string): SlotGrant {
    const mine = this.byProject.get(project) ?? 0;
    if (mine >= this.perProject) {
      return {
        refused: `code execution is at capacity for this project (${mine} of ${this.perProject} programs per project running); try again later`,
      };
    }
    if (this.used >= this.total) {
      return {
        refused: `code execution is at capacity (${this.used} of ${this.total} programs running); try again later`,
      };
    }
    this.used++;
    this.byProject.set(project, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.used--;
        const left = (this.byProject.get(project) ?? 1) - 1;
        if (left > 0) this.byProject.set(project, left);
        else this.byProject.delete(project);
      },
    };
  }
}
