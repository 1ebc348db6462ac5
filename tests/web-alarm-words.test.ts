/** The web app says every key-transparency alarm in words (web-client/src/screens/alarm-words.ts):
 * each kind the SDK raises has its own explanation, and the person named in a key-substitution
 * alarm is found in the SDK's message. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { alarmSubject, alarmWords } from '../web-client/src/screens/alarm-words.js';
import { ROOT } from './helpers.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [full] : [];
  });
}

describe('alarm words', () => {
  it('has words of its own for every alarm kind the SDK raises', () => {
    const kinds = new Set<string>();
    for (const file of sources(path.join(ROOT, 'client-sdk/src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:alarm|fail)\(\s*'([a-z_]+)'/g)) kinds.add(m[1]);
      // kinds chosen by a condition: `const kind = … ? 'a' : 'b';` ahead of an alarm(kind, …)
      for (const m of text.matchAll(/const kind = [^;]*\?\s*'([a-z_]+)'\s*:\s*'([a-z_]+)'\s*;/g)) {
        kinds.add(m[1]);
        kinds.add(m[2]);
      }
    }
    expect(kinds.size).toBeGreaterThan(10);
    expect([...kinds]).toEqual(expect.arrayContaining(['forged_checkpoint', 'rollback', 'key_substitution']));
    const missing = [...kinds].filter((k) => alarmWords(k).what === 'alarm.other');
    expect(missing).toEqual([]);
  });

  it('falls back to general words for a kind it does not know', () => {
    expect(alarmWords('something_new')).toEqual({ what: 'alarm.other', todo: 'alarm.todo.officer' });
  });

  it('finds the person in key-substitution messages', () => {
    expect(alarmSubject('key_substitution', 'the relay served other keys for a device of Ben Weber (d_abc) than the key-transparency log: it may be trying to read messages; those keys are not used')).toBe('Ben Weber');
    expect(alarmSubject('key_substitution', 'the relay lists a device of Anna Schmidt (d_x1) that the key-transparency log does not show; it is not trusted')).toBe('Anna Schmidt');
    expect(alarmSubject('key_substitution', 'a key of Ben Weber (device d_q) is also bound to Anna Schmidt: neither is trusted')).toBe('Ben Weber');
    expect(alarmSubject('bad_chain', 'Ben Weber: the chain is broken at entry 4')).toBe('Ben Weber');
  });

  it('names nobody where the message is not about a person', () => {
    expect(alarmSubject('fork', 'Ben Weber and this device were shown two different key-transparency logs')).toBeUndefined();
    expect(alarmSubject('key_substitution', 'something without a name')).toBeUndefined();
  });
});
