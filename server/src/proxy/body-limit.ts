import { Transform, type TransformCallback } from "node:stream";

class BodyLimitError extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = "BodyLimitError";
  }
}

/**
 * Passes a request body through while counting it; errors once it exceeds `limit`. A declared
 * `Content-Length` over the limit is refused before this runs; this catches chunked bodies.
 */
export class BodyLimiter extends Transform {
  private seen = 0;
  exceeded = false;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.exceeded = true;
      callback(new BodyLimitError(this.limit));
      return;
    }
    callback(null, chunk);
  }
}
