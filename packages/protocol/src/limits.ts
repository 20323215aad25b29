// Hard limits shared by server and client. Every one has a stable error code when exceeded.

export const limits = {
  /** One WebSocket frame (CBOR). */
  maxFrameBytes: 1024 * 1024,
  /** One MLS message (application, commit or welcome) inside a frame. */
  maxMlsMessageBytes: 512 * 1024,
  /** HTTP JSON bodies. */
  maxJsonBodyBytes: 64 * 1024,
  /** HTTP body for enrollment and key package uploads (they carry key packages). */
  maxKeyPackageBodyBytes: 512 * 1024,
  /** One KeyPackage. */
  maxKeyPackageBytes: 4 * 1024,
  /** KeyPackages in one upload. */
  maxKeyPackagesPerUpload: 100,
  /** KeyPackages stored per device. */
  maxKeyPackagesPerDevice: 200,
  /** Devices in one signed device list. */
  maxDevicesPerUser: 20,
  /** A signed device list body. */
  maxDeviceListBytes: 16 * 1024,
  /** Users in one key package claim. */
  maxUsersPerClaim: 100,
  /** Devices added or removed in one commit. */
  maxDevicesPerCommit: 1000,
  /** Queue items returned in one fetch. */
  maxFetchBatch: 200,
  /**
   * Payload bytes in one fetch batch (a batch holds at least one item, however large): 200 items of 512 KiB
   * would make a frame no client takes, and then the queue behind them could never be fetched.
   */
  maxBatchBytes: 4 * 1024 * 1024,
  /** A frame from the server: a full batch, or one item of the largest size, with room for item metadata. */
  maxServerFrameBytes: 4 * 1024 * 1024 + 1024 * 1024,
  /** Queue sequence numbers in one ack. */
  maxAckBatch: 1000,
  /** Concurrent WebSocket connections per device. */
  maxConnectionsPerDevice: 4,
  /**
   * Wrong activation codes before the code dies. A code is 60 random bits, so this bounds guessing far below any
   * real chance (100 / 2^60); what stops one person burning a colleague's code is the per-address limit on wrong
   * codes (server http/rate-limit.ts), not this number.
   */
  maxActivationAttempts: 100,
  /** Chat text, in characters. */
  maxTextChars: 64 * 1024,
  /** Members (users) named when creating a conversation. */
  maxConversationUsers: 500,
  /** Files in one message. */
  maxAttachments: 20,
  /** To + Cc + Bcc of one mail. */
  maxMailRecipients: 100,
  maxSubjectChars: 998,
  /** A conversation's name (`conversation rename`). */
  maxConversationNameChars: 100,
  /** Text and HTML bodies, each. (The whole mail must also fit one MLS message.) */
  maxMailBodyChars: 200 * 1024,
  /** Blob ids declared with one message. */
  maxBlobsPerMessage: 20,
  /** Bytes in one blob upload request (a resumable upload is many of these). */
  maxUploadPartBytes: 64 * 1024 * 1024,
} as const;
