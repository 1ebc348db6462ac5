/** Runs a machine operation: performs each effect it yields and resumes it with the answer, or
 * throws the failure into it at the step that asked, so the operation's own error handling (a
 * refused commit, a lost answer) runs exactly where the request was made. The effects themselves
 * are performed by the caller's `perform` (AgoraClient: RelayHttp and the profile storage). */
import type { Effect, Op } from './op.js';

export type Perform = (effect: Effect) => Promise<unknown>;

export async function drive<T>(op: Op<T>, perform: Perform): Promise<T> {
  let step = await op.next();
  while (!step.done) {
    let answer: unknown;
    let failure: { error: unknown } | undefined;
    try {
      answer = await perform(step.value);
    } catch (error) {
      failure = { error };
    }
    step = failure ? await op.throw(failure.error) : await op.next(answer);
  }
  return step.value;
}
