import { createHook } from "node:async_hooks";

const TRACKED = new Set(["Timeout", "TCPWRAP", "TCPSERVERWRAP", "Immediate", "FSREQCALLBACK"]);

/**
 * Records every timer and socket created while it is on, with the stack that created it, and
 * reports those still alive that our code (or a library it called) opened.
 */
export function trackHandles(ownCode = /[\\/](server[\\/]src|node_modules[\\/](fastify|@fastify|@trpc|avvio))[\\/]/) {
  const live = new Map<number, { type: string; stack: string }>();
  const hook = createHook({
    init(asyncId, type) {
      if (!TRACKED.has(type)) return;
      const stack = new Error().stack ?? "";
      if (ownCode.test(stack)) live.set(asyncId, { type, stack });
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  });
  hook.enable();
  return {
    /** Handles still open, as "type: first own stack frame". */
    open(): string[] {
      return [...live.values()].map(({ type, stack }) => {
        const frame = stack.split("\n").find((line) => ownCode.test(line)) ?? "";
        return `${type}: ${frame.trim()}`;
      });
    },
    stop(): void {
      hook.disable();
    },
  };
}
