/** Unique names at the relay's edge: the store's unique name keys decide (so two concurrent
 * requests cannot both win); these helpers turn its refusal into a 409 naming the field, and check
 * early where a name is only promised (an invite's name is taken when the invite is used). */
import { nameKey } from '@agora/protocol';
import { AppError } from '../errors.js';
import { isNameTaken, type Store } from '../store/types.js';

/** Runs a store write; a NameTaken from it becomes a 409 naming `field`. */
export async function withUniqueName<T>(field: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (isNameTaken(err)) throw new AppError('conflict', `${field}: ${err.message}`, { field });
    throw err;
  }
}

/** Refuses a new person's name that another person has (deactivated people keep theirs: the log
 * names them for good). Two open invites of one name are possible; the second to register fails. */
export async function requireFreePersonName(store: Store, name: string, field: string): Promise<void> {
  const key = nameKey(name);
  const clash = (await store.listUsers()).find((u) => nameKey(u.name) === key);
  if (clash) throw new AppError('conflict', `${field}: a person named "${clash.name}" exists already`, { field });
}
