import type { StreamEvent } from "../../src/stream/stream-event.js";
import type { StreamSink } from "../../src/stream/stream-sink.js";

/** A client that takes everything at once (never a reason to wait) and keeps what it got. */
export class RecordingSink implements StreamSink {
  readonly transport = "raw";
  readonly events: StreamEvent[] = [];
  /** What `start` was told: whether the requested position was served without `reset`. */
  resumed: boolean | undefined;

  get delivered(): number {
    return this.events.length;
  }

  start(resumed: boolean): void {
    this.resumed = resumed;
  }

  deliver(event: StreamEvent): void {
    this.events.push(event);
  }

  pendingBytes(): number {
    return 0;
  }

  waitForRoom(): Promise<void> {
    return Promise.resolve();
  }

  end(): void {}
}
