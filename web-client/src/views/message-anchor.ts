/** Links to one message of a group: `/gruppen/<id>#m-<messageId>`. The fragment is the element id
 * the group screen gives the message, so the address names the message and nothing else (a
 * fragment never reaches the server). Kept apart from the screen so search links and the
 * conversation cannot drift apart, and so the paging rule can be tested without a browser. */
import { pathTo } from '../router.js';
import { PATHS } from '../paths.js';

const PREFIX = 'm-';

/** The element id of a message: its record id once it has one, else its stable key. */
export function messageElementId(m: { id?: string; key: string }): string {
  return PREFIX + (m.id ?? m.key);
}

/** The element id for a message id as a fragment names it (see `locateMessage` for the match). */
export function elementIdOf(messageId: string): string {
  return PREFIX + messageId;
}

/** The address of a message in its group. */
export function messageHref(groupId: string, messageId: string): string {
  return `${pathTo(PATHS.group, { id: groupId })}#${PREFIX}${encodeURIComponent(messageId)}`;
}

/** The message id a URL fragment (`location.hash`) names, if it names one. */
export function messageIdOfHash(hash: string): string | undefined {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!fragment.startsWith(PREFIX) || fragment.length === PREFIX.length) return undefined;
  try {
    return decodeURIComponent(fragment.slice(PREFIX.length));
  } catch {
    return undefined;
  }
}

export type Anchor =
  /** Drawn once `shown` (the count of newest messages drawn) is at least this. */
  | { state: 'found'; shown: number }
  /** Not among the messages yet, and the group's full read has not arrived: wait for it. */
  | { state: 'waiting' }
  /** Not among all of the group's messages this device holds. */
  | { state: 'missing' };

/** Where the message `targetId` is, given the conversation in order (oldest first) and how many of
 * the newest are drawn: older pages are added, a page at a time, until it is drawn. */
export function locateMessage(items: readonly { id?: string; key: string }[], targetId: string, shown: number, page: number, complete: boolean): Anchor {
  const fromEnd = distanceFromEnd(items, targetId);
  if (fromEnd === undefined) return complete ? { state: 'missing' } : { state: 'waiting' };
  if (fromEnd <= shown) return { state: 'found', shown };
  return { state: 'found', shown: shown + Math.ceil((fromEnd - shown) / page) * page };
}

/** How far from the end of the conversation (1 = the newest) the message `targetId` is, if it is
 * there: by record id, or by its outbox key while it has no id yet. */
export function distanceFromEnd(items: readonly { id?: string; key: string }[], targetId: string): number | undefined {
  const at = items.findIndex((m) => m.id === targetId || (m.id === undefined && m.key === targetId));
  return at < 0 ? undefined : items.length - at;
}
