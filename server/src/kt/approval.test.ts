/** The relay's view of DEVICE_APPROVED entries: the same rule the clients' chain replay applies
 * (kt/chain.ts), so a stored log the clients would refuse does not load either. */
import { describe, expect, it } from '@jest/globals';
import { TestLog } from '../../../protocol/src/kt/test-log.js';
import { KtState, KtStateError } from './state.js';

function load(log: TestLog): KtState {
  const state = new KtState();
  for (const e of log.entries) state.apply(e);
  return state;
}

describe('KtState and device approvals', () => {
  it("tracks which devices the person's own devices vouch for", () => {
    const log = new TestLog();
    const alice = log.bootstrap();
    const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
    log.linkDevice(bob, 'u_bob', 'd_bob2');
    const adminMade = log.linkDevice(alice, 'u_bob', 'd_bob3');
    expect([...load(log).users.get('u_bob')!.approved].sort()).toEqual(['d_bob1', 'd_bob2']);
    log.approveDevice(bob, adminMade);
    expect([...load(log).users.get('u_bob')!.approved].sort()).toEqual(['d_bob1', 'd_bob2', 'd_bob3']);
  });

  it('refuses an approval by a device that is not approved, or of a device approved already', () => {
    const log = new TestLog();
    const alice = log.bootstrap();
    log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
    const x = log.linkDevice(alice, 'u_bob', 'd_bob3');
    const y = log.linkDevice(alice, 'u_bob', 'd_bob4');
    log.approveDevice(x, y);
    expect(() => load(log)).toThrow(KtStateError);

    const again = new TestLog();
    const a = again.bootstrap();
    const b = again.invitePerson(a, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
    const z = again.linkDevice(a, 'u_bob', 'd_bob3');
    again.approveDevice(b, z);
    again.approveDevice(b, z);
    expect(() => load(again)).toThrow(/not active and awaiting approval/);
  });
});
