import { Transform, type TransformCallback } from "node:stream";

/**
 * Passes a response body through unchanged and keeps a copy while it stays under `maxBytes`;
 * `onComplete` gets the copy when the body ended, or `undefined` when it was too large.
 */
export class ResponseRecorder extends Transform {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private overflow = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onComplete: (body: Buffer | undefined) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.overflow) {
      this.bytes += chunk.length;
      if (this.bytes > this.maxBytes) {
        this.overflow = true;
        this.chunks = [];
      } else {
        this.chunks.push(chunk);
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.onComplete(this.overflow ? undefined : Buffer.concat(this.chunks));
    this.chunks = [];
    callback();
  }
}
