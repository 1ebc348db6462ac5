/** The rules that keep a conversation free of duplicates and in log order, and count what is
 * unread. Pure functions over the engine's items, so they are tested on their own. */
import type { GroupMemo } from './app-data.js';

export interface Ordered {
  id?: string;
  seq?: number;
  mine: boolean;
}

/** Inserts `item` in log order: by seq where both have one, else at the end (the push channel and
 * the catch-up deliver each group's messages in log order). A message already there (same id) is
 * not added again: the list is returned unchanged. */
export function insertInOrder<T extends Ordered>(list: T[], item: T): T[] {
  if (item.id !== undefined && list.some((x) => x.id === item.id)) return list;
  if (item.seq !== undefined) {
    let i = list.length;
    while (i > 0 && list[i - 1].seq !== undefined && list[i - 1].seq! > item.seq) i--;
    return [...list.slice(0, i), item, ...list.slice(i)];
  }
  return [...list, item];
}

/** A group's read (complete and in log order) merged with what is on screen now: messages that
 * arrived while the read ran (not in it, and not there before it started) are newer, so they go
 * after it. Everything else on screen is replaced by the read's copy. */
export function mergeRead<T extends Ordered>(read: T[], current: T[], knownBefore: ReadonlySet<string | undefined>): T[] {
  const readIds = new Set(read.map((m) => m.id));
  let merged = read;
  for (const m of current) {
    if (!readIds.has(m.id) && !knownBefore.has(m.id)) merged = insertInOrder(merged, m);
  }
  return merged;
}

/** Messages from others after the last one the person has seen; all of them if none was seen yet
 * (or the marker is older than what is held). */
export function countUnread(list: readonly Ordered[], memo: Pick<GroupMemo, 'lastReadId' | 'lastReadSeq'> | undefined): number {
  if (memo?.lastReadSeq !== undefined && list.length > 0 && list.every((m) => m.seq !== undefined)) {
    return list.filter((m) => !m.mine && m.seq! > memo.lastReadSeq!).length;
  }
  let from = 0;
  if (memo?.lastReadId) from = list.findIndex((m) => m.id === memo.lastReadId) + 1;
  return list.slice(from).filter((m) => !m.mine).length;
}
