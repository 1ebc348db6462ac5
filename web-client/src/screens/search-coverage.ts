/** What the search index covers: every group the person is a member of, filled in the background
 * from the messages this device already holds (the SDK's own decrypted state, read locally: no
 * request per group), in small slices of idle time so that the screens never wait for it.
 *
 * Messages that arrive later (push, catch-up, a group's read) reach the index through the screens'
 * live feed; this pass covers what the device held before the index saw it: a first use on a
 * device that has history, an index started afresh, a save lost when the app was locked.
 *
 * What stays in the index follows what the person can open now: a group that leaves their list
 * (deleted, or a secret group they were removed from) loses its entries, so a search never leads
 * to a group the app no longer shows. A public group they left stays: they can still read it. */
import type { IndexedMessage, SearchIndex } from './search-index.js';

/** A stretch of time the page can spare; called, it says how many milliseconds are left of it. */
export type Slice = () => number;

/** Messages added to the index per step: a step of 25 short messages takes a few milliseconds, so
 * that even on a slow phone a step fits in the idle time between two frames. */
export const STEP_MESSAGES = 25;
/** Without idle callbacks (Safari): a timer slice of this many milliseconds. */
const TIMER_SLICE_MS = 8;
/** An idle callback waits at most this long, so a page that is never idle still gets indexed. */
const IDLE_TIMEOUT_MS = 1_000;
/** How long to wait before asking again for messages the device is still loading. */
export const NOT_YET_WAIT_MS = 250;

/** The next slice of time the page has to spare: an idle period where the browser reports them,
 * else a short timer turn. */
export function idleSlice(): Promise<Slice> {
  const g = globalThis as { requestIdleCallback?: (cb: (d: { timeRemaining(): number }) => void, opts?: { timeout: number }) => number };
  if (typeof g.requestIdleCallback === 'function') {
    const request = g.requestIdleCallback;
    return new Promise((resolve) => request((d) => resolve(() => d.timeRemaining()), { timeout: IDLE_TIMEOUT_MS }));
  }
  return new Promise((resolve) =>
    setTimeout(() => {
      const end = performance.now() + TIMER_SLICE_MS;
      resolve(() => end - performance.now());
    }, 0),
  );
}

export interface ListedGroup {
  id: string;
  kind: 'secret' | 'public';
  isMember: boolean;
}

export interface Progress {
  /** Member groups whose stored messages are all in the index. */
  done: number;
  total: number;
}

interface Cursor {
  groupId: string;
  todo: IndexedMessage[];
  at: number;
}

export class Coverage {
  /** Member groups in list order; undefined until the first list. */
  private members: string[] | undefined;
  /** Groups whose entries may stay: member groups and public groups. */
  private readable = new Set<string>();
  private readonly scanned = new Set<string>();
  private cursor: Cursor | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly index: SearchIndex,
    /** The messages this device holds for a group; undefined while it is still loading them. */
    private readonly stored: (groupId: string) => readonly IndexedMessage[] | undefined,
    /** Called after each slice that changed the index or the progress, with how many were added. */
    private readonly changed: (added: number) => void,
    private readonly wait: () => Promise<Slice> = idleSlice,
    private readonly pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** The person's groups as the relay lists them now: entries of groups they can no longer open are
   * dropped at once, and member groups not covered yet are queued. Returns whether anything was
   * dropped. */
  setGroups(groups: readonly ListedGroup[]): boolean {
    this.members = groups.filter((g) => g.isMember).map((g) => g.id);
    this.readable = new Set(groups.filter((g) => g.isMember || g.kind === 'public').map((g) => g.id));
    let dropped = false;
    for (const id of [...this.index.groupIds()]) {
      if (this.readable.has(id)) continue;
      this.index.dropGroup(id);
      dropped = true;
    }
    // A group joined again later is covered again.
    for (const id of [...this.scanned]) if (!this.readable.has(id)) this.scanned.delete(id);
    if (this.members.some((id) => !this.scanned.has(id))) void this.run();
    return dropped;
  }

  /** Whether a message of this group may go into the index (any group, before the first list). */
  mayIndex(groupId: string): boolean {
    return this.members === undefined || this.readable.has(groupId);
  }

  progress(): Progress {
    const members = this.members ?? [];
    return { done: members.filter((id) => this.scanned.has(id)).length, total: members.length };
  }

  /** Resolves when every member group listed so far is covered (or coverage stopped). */
  run(): Promise<void> {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** True while a pass runs. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Stops for good (the app was locked: the index leaves memory). */
  stop(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    while (!this.stopped && (this.cursor || this.members?.some((id) => !this.scanned.has(id)))) {
      const slice = await this.wait();
      if (this.stopped) return;
      let added = 0;
      let steps = 0;
      let next: 'more' | 'done' | 'later' = 'more';
      // At least one step per slice: a slice granted by the idle timeout reports no time left.
      while ((steps === 0 || slice() > 1) && (next = this.step((n) => (added += n))) === 'more') steps += 1;
      if (steps > 0) this.changed(added);
      if (next === 'done') return;
      if (next === 'later') await this.pause(NOT_YET_WAIT_MS);
    }
  }

  /** One small piece of work: 'done' when nothing is left, 'later' when the device is still
   * loading its messages. */
  private step(count: (n: number) => void): 'more' | 'done' | 'later' {
    // The group left the list while it was being covered: setGroups dropped its entries.
    if (this.cursor && !this.readable.has(this.cursor.groupId)) this.cursor = undefined;
    if (!this.cursor) {
      const groupId = this.members?.find((id) => !this.scanned.has(id));
      if (!groupId) return 'done';
      const held = this.stored(groupId);
      if (!held) return 'later';
      const todo = held.filter((m) => !this.index.has(m.id));
      this.cursor = { groupId, todo, at: 0 };
    } else {
      const c = this.cursor;
      count(this.index.add(c.todo.slice(c.at, c.at + STEP_MESSAGES)));
      c.at += STEP_MESSAGES;
    }
    if (this.cursor.at >= this.cursor.todo.length) {
      this.scanned.add(this.cursor.groupId);
      this.cursor = undefined;
    }
    return 'more';
  }
}
