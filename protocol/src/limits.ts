/** Limits shared by relay and SDK. They are on by default, like `ws`'s maxPayload: an input over a
 * limit is refused before it is stored, and the SDK refuses to produce one. */
export const LIMITS = {
  /** Whole JSON request body. */
  bodyBytes: 1_048_576,
  /** One encrypted content record (text now; posts and attachments keys later). */
  recordBytes: 262_144,
  /** One MLS commit, welcome or group info, base64url-encoded. 1,000 leaves need ~330 KB. */
  mlsMessageChars: 900_000,
  keyPackageChars: 4_096,
  keyPackagesPerUpload: 100,
  /** Devices a single commit may add or remove, and envelopes one upload may carry. */
  fanOut: 2_000,
  nameChars: 120,
  /** Member devices of one secret group, as a commit declares them for the key-transparency log. */
  groupDevices: 10_000,
  /** Key-transparency log entries per page. */
  ktPageSize: 1_000,
  /** People one request may ask the log about (POST /v1/kt/users): a list of all staff is checked in
   * a few requests instead of one per person. */
  ktUsersPerRequest: 50,
  logPageSize: 500,
  /** Key packages under which a device is told to top up. */
  keyPackageLowWater: 10,
  keyPackageTarget: 50,
  /** KeyPackage claims per claiming person: devices claimed, refilling at this rate per minute, with
   * a burst big enough to form a group of that many devices at once. */
  claimDevicesPerMinute: 100,
  claimDevicesBurst: 1_000,
  /** Claims of one target device by one claiming person per hour (a burst of this many): well under
   * the stock between a full top-up and the low-water mark, so no one colleague can empty it. */
  claimsPerTargetPerHour: 20,
  inviteTtlMs: 7 * 24 * 3600_000,
  challengeTtlMs: 60_000,
  tokenTtlMs: 15 * 60_000,
} as const;
export const PROTOCOL_VERSION = "1";
