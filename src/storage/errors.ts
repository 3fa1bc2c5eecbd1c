// Errors of the S3 transport, named so that logs, Temporal's failure view and
// the hub's 503 answers say what the server did.

/** An S3 error response, with the HTTP status and S3's error code (BadDigest, SignatureDoesNotMatch, …). */
export class S3RequestError extends Error {
  override name = 'S3RequestError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The S3 server could not be reached in time, or stopped answering mid-request. */
export class S3TimeoutError extends Error {
  override name = 'S3TimeoutError';
}
