/** Joining a public group, from the group list or the group itself: busy while it runs, and the
 * failure in words afterwards. */
import { useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import type { Problem } from '../engine/problems.js';

export function useJoin(groupId: string): { joining: boolean; problem?: Problem; join: () => Promise<boolean> } {
  const { engine } = useEngine();
  const [joining, setJoining] = useState(false);
  const [problem, setProblem] = useState<Problem>();
  async function join(): Promise<boolean> {
    setJoining(true);
    setProblem(undefined);
    try {
      await engine.joinGroup(groupId);
      return true;
    } catch (e) {
      setProblem(engine.explain(e));
      return false;
    } finally {
      setJoining(false);
    }
  }
  return { joining, problem, join };
}
