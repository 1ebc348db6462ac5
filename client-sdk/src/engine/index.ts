/** The client machine's operations, for drivers (AgoraClient, an app's own driver): each is an
 * `Op` (op.ts) over a `Machine` (machine.ts), run with `drive` (driver.ts). */
export { Machine, loadMlsFor, type MachineConfig } from './machine.js';
export { drive, type Perform } from './driver.js';
export { ask, checkAnswer, persist, type Effect, type Op } from './op.js';
export { req, type RelayRequest } from './requests.js';
export { KtTrust, type TrustedDevice } from './trust.js';
export * from './types.js';
export { ensureToken, register } from './session.js';
export { fetchSync, refreshDirectory, resolveUser } from './directory.js';
export { findGroup, resolveGroupIn } from './groups.js';
export { applyPending, applyPushed, sendText, syncGroupLog } from './records.js';
export { syncUnlocked } from './sync.js';
export {
  addDepartmentMember, addMembers, addOwner, alarms, approveDevice, createDepartment, createGroup, createInvite, deactivate, deleteDepartment,
  deleteGroup, departments, directory, groupMembers, joinGroup, leaveGroup, linkDevice, listGroups, listOwnDevices, publishPolicy, read, removeDepartmentMember,
  removeMembers, renameDepartment, renameGroup, revokeDevice, setPolicy, storedMessages, sync, updateGroup, verifyUser,
} from './operations.js';
export { setRole, verifiedRoles } from './admin-roles.js';
