/** Small values of these screens kept with the device's state: the search index and the people this
 * person marked as verified. They go through the engine's encrypted app store (the same store and
 * key as the profile), never to localStorage: who someone checked, and the words of secret groups
 * in the index, are as confidential as the messages. */
import type { Engine } from '../engine/engine.js';

export function readValue(engine: Engine, key: string): Promise<string | undefined> {
  return engine.appValue(key);
}

export function writeValue(engine: Engine, key: string, value: string): Promise<void> {
  return engine.putAppValue(key, value);
}
