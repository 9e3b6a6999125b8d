// The demo page at `/` (bundled by esbuild into server/public/demo.js): typed proxy calls kept
// live by catalog events, topics with presence, and both stream transports side by side, through
// @circl-bff/client. Options come from the URL hash, which never reaches the server:
// `#token=<access token>&gateway=<url>&transports=raw,trpc&share=0&types=a,b`.
// Imported module by module: the package index also re-exports the zod schemas, which the page
// does not need (the gateway validates).
import type { CatalogEventType, EventEnvelope, Todo } from "@circl-bff/shared";
import { type BffClient, createBffClient, isBffClientError, reconnectStreams } from "../src/create-client.js";
import { type EventStreamHandle, openEventStream } from "../src/open-event-stream.js";

type Pane = "raw" | "trpc";

/**
 * Every catalog type: a plain `EventSource` only dispatches the named events it listens for, so
 * the raw pane listens for all of these (the compile-time check below keeps the list complete).
 */
const CATALOG_TYPES = ["demo.message", "todo.changed"] as const satisfies readonly CatalogEventType[];
type MissingCatalogTypes = Exclude<CatalogEventType, (typeof CATALOG_TYPES)[number]>;
const catalogListComplete: [MissingCatalogTypes] extends [never] ? true : MissingCatalogTypes = true;
void catalogListComplete;

const params = new URLSearchParams(location.hash.slice(1));
const gateway = params.get("gateway") ?? location.origin;
const transports = new Set((params.get("transports") ?? "raw,trpc").split(",") as Pane[]);
const share = params.get("share") !== "0";
const rawTypes = (params.get("types")?.split(",") ?? [...CATALOG_TYPES]).filter((type) => type !== "");
const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;
const field = (pane: Pane, name: string) => $(`#${pane} .${name}`);
const button = (id: string) => $<HTMLButtonElement>(`#${id}`);

const tokenInput = $<HTMLInputElement>("#token");
tokenInput.value =
  params.get("token") ?? document.querySelector<HTMLMetaElement>('meta[name="circl-dev-token"]')?.content ?? "";

let connection: { close(): void; drop(): void } | undefined;
let client: BffClient | undefined;
/** Bumped by every connect/close: late answers of an older connection are ignored. */
let generation = 0;

const time = (iso?: string) => (iso === undefined ? new Date() : new Date(iso)).toLocaleTimeString();

function setState(pane: Pane, state: string, text = state): void {
  const el = field(pane, "state");
  el.textContent = text;
  el.dataset.state = state;
}

// ---------------------------------------------------------------- connection log

function logConnection(text: string, kind = "info"): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.kind = kind;
  li.textContent = `${time()} ${text}`;
  $("#connection-log").prepend(li);
  return li;
}

/**
 * One transport's reconnect bookkeeping: last id, whether a reconnect resumed, and how many
 * events it replayed. A reconnect sends the last id; it resumed unless a `reset` follows.
 */
class ConnectionTracker {
  lastId: string | undefined;
  private open = false;
  private resumeEntry: { li: HTMLLIElement; text: string; replayed: number } | undefined;
  private connectedAt = 0;
  private resumed = false;

  constructor(
    private readonly label: string,
    private readonly showResumed: (resumed: boolean) => void,
  ) {}

  /**
   * The connection is open: from its `connected` envelope (`server` set: the gateway's word and
   * clock), or from the transport's state when no `connected` reached the page.
   */
  connected(at: number, server?: { resumed: boolean }): void {
    if (this.open) {
      // The state came first: the gateway's `connected` corrects what was inferred.
      if (server !== undefined) {
        this.connectedAt = at;
        this.setResumed(server.resumed);
      }
      return;
    }
    this.open = true;
    this.connectedAt = at;
    if (this.lastId === undefined && this.resumeEntry === undefined && server?.resumed !== true) {
      this.setResumed(false);
      logConnection(`${this.label}: connected`, "connected");
      return;
    }
    const text = `${this.label}: reconnected, resumed from id ${this.lastId ?? "(none)"}`;
    this.resumeEntry = { li: logConnection(`${text}, 0 replayed`, "resumed"), text, replayed: 0 };
    this.setResumed(server?.resumed ?? this.lastId !== undefined);
  }

  private setResumed(resumed: boolean): void {
    this.resumed = resumed;
    this.showResumed(resumed);
  }

  /** True when the envelope was sent from history (published before this connection opened). */
  replayed(envelope: EventEnvelope): boolean {
    const old = this.resumed && envelope.type !== "reset" && Date.parse(envelope.timestamp) < this.connectedAt;
    if (old && this.resumeEntry !== undefined) {
      this.resumeEntry.replayed++;
      this.resumeEntry.li.textContent = `${time()} ${this.resumeEntry.text}, ${this.resumeEntry.replayed} replayed`;
    }
    return old;
  }

  dropped(why: string): void {
    if (!this.open) return;
    this.open = false;
    logConnection(`${this.label}: dropped (${why}) at id ${this.lastId ?? "(none)"}`, "dropped");
  }

  reset(envelope: EventEnvelope): void {
    const data = envelope.data as { reason?: string; lastEventId?: string };
    this.setResumed(false);
    logConnection(
      `${this.label}: reset (${data.reason ?? "?"}): id ${data.lastEventId ?? "?"} cannot be resumed, continuing at ${envelope.id}; the todo list is refetched`,
      "reset",
    );
  }
}

// ---------------------------------------------------------------- event logs

function scopeOf(envelope: EventEnvelope): string {
  if (envelope.topic !== undefined) return `topic ${envelope.topic}`;
  if (envelope.userId !== undefined) return "personal";
  return "tenant";
}

function eventItem(envelope: EventEnvelope, replayed: boolean): HTMLLIElement {
  const li = document.createElement("li");
  li.className = envelope.type === "reset" ? "reset" : "event";
  li.dataset.id = envelope.id;
  li.dataset.type = envelope.type;
  li.dataset.scope = scopeOf(envelope).split(" ")[0];
  li.dataset.delivery = replayed ? "replayed" : "live";
  for (const [cls, text] of [
    ["time", time(envelope.timestamp)],
    ["type", envelope.type],
    ["scope", scopeOf(envelope)],
    ["delivery", replayed ? "replayed" : "live"],
    ["id", envelope.id],
    ["data", JSON.stringify(envelope.data)],
  ] as const) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  return li;
}

function show(pane: Pane, envelope: EventEnvelope, replayed: boolean): void {
  field(pane, "events").prepend(eventItem(envelope, replayed));
  const count = field(pane, "count");
  count.textContent = String(Number(count.textContent) + 1);
  if (envelope.type === "reset") {
    const resets = field(pane, "resets");
    resets.textContent = String(Number(resets.textContent) + 1);
  }
}

/**
 * tRPC yields tracked items `{id, data: envelope}` and, first, an untracked `connected` envelope
 * itself (presence envelopes are untracked too). A client that still unwraps every item as a
 * tracked one hands over `{data: {clientId, resumed}}` for `connected`: read that as well.
 */
function envelopeOf(item: unknown): EventEnvelope | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  if ("type" in item) return item as EventEnvelope;
  const inner = (item as { data?: unknown }).data;
  if (typeof inner !== "object" || inner === null) return undefined;
  if ("type" in inner) return inner as EventEnvelope;
  if ("clientId" in inner && "resumed" in inner) {
    return { id: "", type: "connected", data: inner, tenantId: "", timestamp: new Date().toISOString() };
  }
  return undefined;
}

// ---------------------------------------------------------------- todos

const todos = new Map<string, Todo>();

function renderTodos(): void {
  const list = $("#todos");
  list.replaceChildren();
  for (const todo of [...todos.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
    const li = document.createElement("li");
    li.dataset.id = todo.id;
    li.dataset.done = String(todo.done);
    const done = document.createElement("input");
    done.type = "checkbox";
    done.checked = todo.done;
    done.setAttribute("aria-label", `done: ${todo.title}`);
    done.addEventListener(
      "change",
      () =>
        void todoCall(() => client?.proxy.updateTodo.mutate({ params: { id: todo.id }, body: { done: done.checked } })),
    );
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = todo.title;
    const by = document.createElement("span");
    by.className = "by";
    by.textContent = todo.createdBy;
    const follow = document.createElement("button");
    follow.type = "button";
    follow.className = "follow-todo";
    follow.textContent = "follow";
    follow.title = `follow the topic todo:${todo.id}`;
    follow.addEventListener("click", () => {
      $<HTMLInputElement>("#topic").value = `todo:${todo.id}`;
      followTopic();
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete";
    remove.textContent = "delete";
    remove.addEventListener(
      "click",
      () => void todoCall(() => client?.proxy.deleteTodo.mutate({ params: { id: todo.id } })),
    );
    li.append(done, title, by, follow, remove);
    list.append(li);
  }
}

/** Applies a `todo.changed` event; applying one twice changes nothing (both panes deliver it). */
function applyTodoEvent(envelope: EventEnvelope): void {
  if (envelope.type !== "todo.changed") return;
  const data = envelope.data as { change: "created" | "updated"; todo: Todo } | { change: "deleted"; id: string };
  if (data.change === "deleted") todos.delete(data.id);
  else todos.set(data.todo.id, data.todo);
  renderTodos();
}

async function loadTodos(): Promise<void> {
  const current = generation;
  const result = await todoCall(() => client?.proxy.listTodos.query());
  if (result === undefined || current !== generation) return;
  todos.clear();
  for (const todo of result.items) todos.set(todo.id, todo);
  renderTodos();
}

async function todoCall<T>(call: () => Promise<T> | undefined): Promise<T | undefined> {
  const output = $("#todo-result");
  try {
    const result = await call();
    output.textContent = "";
    delete output.dataset.status;
    return result;
  } catch (error) {
    output.textContent = `refused: ${(error as Error).message}`;
    output.dataset.status = "error";
    return undefined;
  }
}

// ---------------------------------------------------------------- topic and presence

let topicStream: { topic: string; close(): void } | undefined;
const present = new Map<string, number | undefined>();

function renderPresence(): void {
  const list = $("#presence");
  list.replaceChildren();
  for (const [userId, connections] of [...present.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const li = document.createElement("li");
    li.dataset.user = userId;
    li.textContent = connections === undefined ? userId : `${userId} (${connections})`;
    list.append(li);
  }
}

function leaveTopic(): void {
  topicStream?.close();
  topicStream = undefined;
  present.clear();
  renderPresence();
  const followed = $("#topic-followed");
  followed.textContent = "nothing";
  followed.dataset.state = "none";
  button("unfollow").disabled = true;
  button("topic-publish").disabled = true;
}

function followTopic(): void {
  const token = tokenInput.value.trim();
  const topic = $<HTMLInputElement>("#topic").value.trim();
  if (client === undefined || topic === "") return;
  leaveTopic();
  const current = generation;
  const followed = $("#topic-followed");
  followed.textContent = `${topic} (connecting)`;
  followed.dataset.state = "connecting";
  // A stream of its own (not shared across tabs): its input carries the topic and presence.
  const topicClient = createBffClient({ url: gateway, getAccessToken: () => token, shareStream: false });
  const subscription = topicClient.events.stream.subscribe(
    { topics: [topic], presence: true },
    {
      onData: (item) => {
        const envelope = envelopeOf(item);
        if (envelope === undefined || current !== generation) return;
        if (envelope.type === "connected") {
          followed.textContent = topic;
          followed.dataset.state = "open";
          button("topic-publish").disabled = false;
          void refreshPresence(topic);
          return;
        }
        if (envelope.type === "presence.join" || envelope.type === "presence.leave") {
          const { userId } = envelope.data as { topic: string; userId: string };
          if (envelope.type === "presence.join") present.set(userId, present.get(userId));
          else present.delete(userId);
          renderPresence();
          void refreshPresence(topic);
          return;
        }
        if (envelope.topic === topic) $("#topic-events").prepend(eventItem(envelope, false));
      },
      onError: (error) => {
        followed.textContent = `${topic}: ${error.message}`;
        followed.dataset.state = "error";
      },
    },
  );
  topicStream = { topic, close: () => subscription.unsubscribe() };
  button("unfollow").disabled = false;
}

async function refreshPresence(topic: string): Promise<void> {
  try {
    const result = await client?.presence.list.query({ topic });
    if (result === undefined || topicStream?.topic !== topic) return;
    present.clear();
    for (const user of result.users) present.set(user.userId, user.connections);
    renderPresence();
  } catch {
    // The join/leave events keep the list; the next one refreshes it again.
  }
}

// ---------------------------------------------------------------- connect

function describeUser(token: string): string {
  try {
    const claims = JSON.parse(atob((token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    const topics = Array.isArray(claims.topics) ? claims.topics.join(", ") : "none";
    return `user ${claims.sub} · tenant ${claims.tenantId} · roles ${(claims.roles ?? []).join(", ") || "none"} · topics ${topics}`;
  } catch {
    return "token not readable";
  }
}

function setConnected(on: boolean): void {
  for (const id of ["drop", "publish", "todo-add", "follow"]) button(id).disabled = !on;
  if (!on) {
    button("unfollow").disabled = true;
    button("topic-publish").disabled = true;
  }
}

/** The token was refused: say so, stop every stream and retry, until the token changes. */
function authFailed(message: string): void {
  generation++;
  connection?.close();
  connection = undefined;
  leaveTopic();
  setConnected(false);
  const error = $("#auth-error");
  error.hidden = false;
  error.textContent = `401 Unauthorized: ${message}. Nothing retries until the token changes.`;
  for (const pane of ["raw", "trpc"] as const) if (transports.has(pane)) setState(pane, "error", "error: 401");
  logConnection(`token refused (401): ${message}`, "error");
}

function isUnauthorized(error: unknown): boolean {
  return isBffClientError(error) && (error.data?.code === "UNAUTHORIZED" || error.data?.httpStatus === 401);
}

async function connect(): Promise<void> {
  generation++;
  const current = generation;
  connection?.close();
  connection = undefined;
  leaveTopic();
  setConnected(false);
  const error = $("#auth-error");
  error.hidden = true;
  error.textContent = "";
  const token = tokenInput.value.trim();
  if (token === "") return;
  $("#who").textContent = `${describeUser(token)} · gateway ${gateway}`;
  const bff = createBffClient({ url: gateway, getAccessToken: () => token, shareStream: share });
  client = bff;
  // One call first: a refused token is a clear 401 here, instead of streams retrying forever.
  try {
    await bff.auth.streamToken.mutate();
  } catch (cause) {
    if (current !== generation) return;
    if (isUnauthorized(cause)) return authFailed((cause as Error).message);
    // Unreachable, or blocked (CORS): not the token's fault, so the streams keep retrying.
    logConnection(`the gateway did not answer (${(cause as Error).message}); the streams keep retrying`, "error");
  }
  if (current !== generation) return;
  const closers: (() => void)[] = [];
  const drops: (() => void)[] = [];
  const onEnvelope = (pane: Pane, tracker: ConnectionTracker, envelope: EventEnvelope) => {
    if (envelope.id !== "") tracker.lastId = envelope.id;
    const replayed = tracker.replayed(envelope);
    show(pane, envelope, replayed);
    applyTodoEvent(envelope);
    if (envelope.type === "reset") {
      tracker.reset(envelope);
      void loadTodos();
    }
  };

  if (transports.has("trpc")) {
    const tracker = new ConnectionTracker("tRPC", (resumed) => {
      field("trpc", "resumed").textContent = String(resumed);
    });
    setState("trpc", "connecting");
    field("trpc", "role").textContent = share ? "shared across tabs" : "own stream";
    const subscription = bff.events.stream.subscribe(undefined, {
      onData: (item) => {
        if (current !== generation) return;
        const envelope = envelopeOf(item);
        if (envelope === undefined) return;
        if (envelope.type === "connected") {
          tracker.connected(Date.parse(envelope.timestamp), envelope.data as { resumed: boolean });
          return;
        }
        onEnvelope("trpc", tracker, envelope);
      },
      onConnectionStateChange: (state) => {
        if (current !== generation) return;
        if (state.state === "connecting" && state.error !== null && isUnauthorized(state.error)) {
          return authFailed(state.error.message);
        }
        const shown = state.state === "pending" ? "open" : state.state;
        if (shown === "connecting") tracker.dropped(state.error?.message ?? "connection lost");
        if (shown === "open") tracker.connected(Date.now());
        setState("trpc", shown);
      },
      onError: (cause) => {
        if (current !== generation) return;
        if (isUnauthorized(cause)) return authFailed(cause.message);
        setState("trpc", "error", `error: ${cause.message}`);
      },
    });
    closers.push(() => subscription.unsubscribe());
    drops.push(() => {
      tracker.dropped("Drop connection");
      setState("trpc", "dropped");
      reconnectStreams(bff);
    });
  }

  if (transports.has("raw")) {
    const tracker = new ConnectionTracker("EventSource", (resumed) => {
      field("raw", "resumed").textContent = String(resumed);
    });
    field("raw", "listening").textContent =
      `EventSource dispatches only the types it listens for: ${[...rawTypes, "reset"].join(", ")}`;
    let stream: EventStreamHandle | undefined;
    stream = openEventStream(gateway, {
      getStreamToken: async () => {
        try {
          return await bff.auth.streamToken.mutate();
        } catch (cause) {
          if (isUnauthorized(cause) && current === generation) authFailed((cause as Error).message);
          throw cause;
        }
      },
      types: rawTypes,
      share,
      onEvent: (envelope) => {
        if (current === generation) onEnvelope("raw", tracker, envelope);
      },
      onStateChange: (state) => {
        if (current !== generation) return;
        if (state === "connecting") tracker.dropped("connection lost");
        setState("raw", state);
        if (stream !== undefined) field("raw", "role").textContent = stream.isLeader ? "leader" : "follower";
      },
      onConnected: (info) => {
        if (current !== generation) return;
        tracker.connected(Date.now(), info);
      },
    });
    closers.push(() => stream?.close());
    drops.push(() => {
      tracker.dropped("Drop connection");
      setState("raw", "dropped");
      stream?.reconnect();
    });
  }

  connection = {
    close: () => {
      for (const close of closers) close();
    },
    drop: () => {
      for (const drop of drops) drop();
    },
  };
  setConnected(true);
  void loadTodos();
}

// ---------------------------------------------------------------- forms

$<HTMLFormElement>("#publish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (client === undefined) return;
  const raw = $<HTMLInputElement>("#data").value;
  let data: unknown = raw;
  try {
    data = JSON.parse(raw);
  } catch {
    // Not JSON: publish the text as a string.
  }
  const to = $<HTMLInputElement>('input[name="to"]:checked').value === "tenant" ? "tenant" : "me";
  const output = $("#publish-result");
  try {
    const result = await client.events.publish.mutate({ type: $<HTMLInputElement>("#type").value, data, to });
    output.textContent = `${result.status} ${result.id ?? ""}`;
    output.dataset.status = result.status;
  } catch (error) {
    output.textContent = `refused: ${(error as Error).message}`;
    output.dataset.status = "error";
  }
});

$<HTMLFormElement>("#todo-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("#todo-title");
  const title = input.value.trim();
  if (title === "") return;
  const todo = await todoCall(() => client?.proxy.createTodo.mutate({ body: { title } }));
  if (todo === undefined) return;
  input.value = "";
  todos.set(todo.id, todo);
  renderTodos();
});

$<HTMLFormElement>("#follow-form").addEventListener("submit", (event) => {
  event.preventDefault();
  followTopic();
});
$("#unfollow").addEventListener("click", leaveTopic);

$<HTMLFormElement>("#topic-publish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const output = $("#topic-result");
  const topic = topicStream?.topic;
  if (client === undefined || topic === undefined) return;
  try {
    const text = $<HTMLInputElement>("#topic-text").value;
    const result = await client.events.publish.mutate({ type: "demo.message", data: { text }, to: { topic } });
    output.textContent = `${result.status} ${result.id ?? ""}`;
    output.dataset.status = result.status;
  } catch (error) {
    output.textContent = `refused: ${(error as Error).message}`;
    output.dataset.status = "error";
  }
});

for (const pane of ["raw", "trpc"] as const) {
  if (!transports.has(pane)) field(pane, "events").innerHTML = '<li class="note">transport off (#transports=…)</li>';
}
$("#connect").addEventListener("click", () => void connect());
// A changed token is a new attempt (a refused one is not retried until then).
tokenInput.addEventListener("change", () => void connect());
$("#drop").addEventListener("click", () => connection?.drop());
// Leaving the page hands a shared stream to another tab at once; back from the page cache, reconnect.
window.addEventListener("pagehide", () => {
  connection?.close();
  topicStream?.close();
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) void connect();
});
if (tokenInput.value !== "") void connect();
