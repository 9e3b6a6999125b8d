import { keyId, type StreamKey } from "@circl-bff/shared";
import type { BusEvent, Unsubscribe } from "./event-bus.js";

/** The live listeners of each stream key (by `keyId`, which is the key's subject), for every engine. */
export class KeyListeners {
  private readonly byKey = new Map<string, Set<(event: BusEvent) => void>>();

  add(key: StreamKey, listener: (event: BusEvent) => void): Unsubscribe {
    const id = keyId(key);
    let set = this.byKey.get(id);
    if (set === undefined) {
      set = new Set();
      this.byKey.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.byKey.get(id) === set) this.byKey.delete(id);
    };
  }

  /** Whether the key (by `keyId`) has a listener here. */
  has(id: string): boolean {
    return this.byKey.has(id);
  }

  /** Hands the event to every listener of the key; a listener that throws does not stop the others. */
  dispatch(id: string, event: BusEvent, onError: (error: unknown) => void): void {
    const listeners = this.byKey.get(id);
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        onError(error);
      }
    }
  }

  clear(): void {
    this.byKey.clear();
  }
}

/** An in-memory list as the async iterable `readAfter` returns. */
export async function* fromList<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
