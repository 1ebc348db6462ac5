/** How screens reach the engine: `useEngine()` gives the engine and its current state and
 * re-renders the component whenever the state changes. */
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { Engine, EngineState } from './engine.js';

export const EngineContext = createContext<Engine | null>(null);

export function useEngine(): { engine: Engine; state: EngineState } {
  const engine = useContext(EngineContext);
  if (!engine) throw new Error('useEngine() outside <EngineContext.Provider>');
  const [state, setState] = useState(engine.state);
  useEffect(() => {
    setState(engine.state);
    return engine.subscribe(setState);
  }, [engine]);
  return { engine, state };
}
