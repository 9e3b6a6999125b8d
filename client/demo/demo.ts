// The demo page at `/`: both transports side by side through @circl-bff/client (bundled by
// esbuild into server/public/demo.js). Options come from the URL hash, which never reaches the
// server: `#token=<access token>&gateway=<url>&transports=raw,trpc&share=0&types=a,b`.
// Imported module by module: the package index also re-exports the zod schemas, which the page
// does not need (the gateway validates).
import type { EventEnvelope } from "@circl-bff/shared";
import { createBffClient, envelopeOf, reconnectStreams } from "../src/create-client.js";
import { type EventStreamHandle, openEventStream } from "../src/open-event-stream.js";

type Pane = "raw" | "trpc";

const params = new URLSearchParams(location.hash.slice(1));
const gateway = params.get("gateway") ?? location.origin;
const transports = new Set((params.get("transports") ?? "raw,trpc").split(",") as Pane[]);
const share = params.get("share") !== "0";
const rawTypes = (params.get("types") ?? "demo.message").split(",").filter((type) => type !== "");
const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;
const field = (pane: Pane, name: string) => $(`#${pane} .${name}`);

const tokenInput = $<HTMLInputElement>("#token");
tokenInput.value =
  params.get("token") ?? document.querySelector<HTMLMetaElement>('meta[name="circl-dev-token"]')?.content ?? "";

let connection: { close(): void; drop(): void } | undefined;

function setState(pane: Pane, state: string): void {
  const el = field(pane, "state");
  el.textContent = state;
  el.dataset.state = state;
}

function show(pane: Pane, envelope: EventEnvelope): void {
  const li = document.createElement("li");
  li.className = envelope.type === "reset" ? "reset" : "event";
  li.dataset.id = envelope.id;
  li.dataset.type = envelope.type;
  for (const [cls, text] of [
    ["id", envelope.id],
    ["type", envelope.type],
    ["data", JSON.stringify(envelope.data)],
  ] as const) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  field(pane, "events").prepend(li);
  const count = field(pane, "count");
  count.textContent = String(Number(count.textContent) + 1);
  if (envelope.type === "reset") {
    const resets = field(pane, "resets");
    resets.textContent = String(Number(resets.textContent) + 1);
  }
}

function describeUser(token: string): string {
  try {
    const claims = JSON.parse(atob((token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    return `user ${claims.sub} · tenant ${claims.tenantId} · roles ${(claims.roles ?? []).join(", ") || "none"}`;
  } catch {
    return "token not readable";
  }
}

function connect(): void {
  connection?.close();
  const token = tokenInput.value.trim();
  if (token === "") return;
  $("#who").textContent = `${describeUser(token)} · gateway ${gateway}`;
  const client = createBffClient({ url: gateway, getAccessToken: () => token, shareStream: share });
  const closers: (() => void)[] = [];
  const drops: (() => void)[] = [];

  if (transports.has("trpc")) {
    setState("trpc", "connecting");
    field("trpc", "role").textContent = share ? "shared across tabs" : "own stream";
    const subscription = client.events.stream.subscribe(undefined, {
      onData: (item) => {
        const envelope = envelopeOf(item);
        // `connected` (each connection, not a position) says whether the last id was resumed.
        if (envelope.type === "connected") {
          field("trpc", "resumed").textContent = String((envelope.data as { resumed: boolean }).resumed);
        } else show("trpc", envelope);
      },
      onConnectionStateChange: (state) => setState("trpc", state.state === "pending" ? "open" : state.state),
      onError: (error) => setState("trpc", `error: ${error.message}`),
    });
    closers.push(() => subscription.unsubscribe());
    drops.push(() => {
      setState("trpc", "dropped");
      reconnectStreams(client);
    });
  }

  if (transports.has("raw")) {
    let stream: EventStreamHandle | undefined;
    stream = openEventStream(gateway, {
      getStreamToken: () => client.auth.streamToken.mutate(),
      types: rawTypes,
      share,
      onEvent: (envelope) => show("raw", envelope),
      onStateChange: (state) => {
        setState("raw", state);
        if (stream !== undefined) field("raw", "role").textContent = stream.isLeader ? "leader" : "follower";
      },
      onConnected: (info) => {
        field("raw", "resumed").textContent = String(info.resumed);
      },
    });
    closers.push(() => stream?.close());
    drops.push(() => {
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
  $<HTMLButtonElement>("#drop").disabled = false;
  $<HTMLButtonElement>("#publish").disabled = false;

  $<HTMLFormElement>("#publish-form").onsubmit = async (event) => {
    event.preventDefault();
    const raw = $<HTMLInputElement>("#data").value;
    let data: unknown = raw;
    try {
      data = JSON.parse(raw);
    } catch {
      // Not JSON: publish the text as a string.
    }
    const to = ($<HTMLInputElement>('input[name="to"]:checked').value === "tenant" ? "tenant" : "me") as
      | "me"
      | "tenant";
    const output = $("#publish-result");
    try {
      const result = await client.events.publish.mutate({ type: $<HTMLInputElement>("#type").value, data, to });
      output.textContent = `${result.status} ${result.id ?? ""}`;
      output.dataset.status = result.status;
    } catch (error) {
      output.textContent = `refused: ${(error as Error).message}`;
      output.dataset.status = "error";
    }
  };
}

for (const pane of ["raw", "trpc"] as const) {
  if (!transports.has(pane)) field(pane, "events").innerHTML = '<li class="note">transport off (#transports=…)</li>';
}
$("#connect").addEventListener("click", connect);
$("#drop").addEventListener("click", () => connection?.drop());
// Leaving the page hands a shared stream to another tab at once; back from the page cache, reconnect.
window.addEventListener("pagehide", () => connection?.close());
window.addEventListener("pageshow", (event) => {
  if (event.persisted) connect();
});
if (tokenInput.value !== "") connect();
