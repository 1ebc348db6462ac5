/** Invite codes: what an administrator reads out or prints for a new colleague. The generator is
 * shared with the SDK, which makes every invite except the bootstrap one. */
export { generateInviteCode } from '@agora/protocol';
