import { connect, type NatsConnection } from "@nats-io/transport-node";

/** A pino-compatible logger (the app's `app.log.child(...)`). */
export type BusLogger = {
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type ConnectionWatcher = {
  disconnected(server: string): void;
  reconnected(server: string): void;
  /** The server or the client reported a slow consumer (messages for this connection may be lost). */
  slowConsumer(detail: string): void;
};

/** Connects, failing fast with the servers named (without credentials) when NATS is unreachable. */
export async function connectNats(servers: string[], name: string): Promise<NatsConnection> {
  return connect({
    servers,
    name,
    // A service reconnects forever; `/ready` reports the outage meanwhile.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // Otherwise every request (each JetStream publish) builds an Error and a TimeoutError up
    // front, stack traces included, for a message on the rare failure: ~15 µs of CPU per
    // publish call in the profile. Our logs say which call failed.
    noAsyncTraces: true,
  }).catch((error: unknown) => {
    throw new Error(`cannot connect to NATS (${servers.map(withoutCredentials).join(", ")}): ${errorMessage(error)}`, {
      cause: error,
    });
  });
}

/** Reports the connection's status changes until it closes. */
export function watchConnection(nc: NatsConnection, watcher: ConnectionWatcher): void {
  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
          watcher.disconnected(status.server);
          break;
        case "reconnect":
          watcher.reconnected(status.server);
          break;
        case "slowConsumer":
          watcher.slowConsumer(`subscription ${status.sub.getSubject()} has ${status.pending} pending`);
          break;
        case "error":
          if (/slow consumer/i.test(String(status.error))) watcher.slowConsumer(String(status.error).slice(0, 200));
          break;
        default:
      }
    }
  })();
}

/** `nats://user:secret@host` → `nats://host`: server lists end up in logs. */
export function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown error";
}

/** Waits for `promise`, at most `ms` (the timer does not outlive it). */
export async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
