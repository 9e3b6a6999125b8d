// The demo page: a plain EventSource on /events/stream with a stream token, and publishing
// through the tRPC HTTP endpoint with fetch. No framework, no build step.
const $ = (id) => document.getElementById(id);
const devToken = document.querySelector('meta[name="circl-dev-token"]')?.content;
if (devToken) $("token").value = devToken;

let source;
let lastEventId;

function setState(state) {
  $("state").textContent = state;
  $("state").dataset.state = state;
}

function show(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("events").prepend(li);
}

async function streamToken() {
  const res = await fetch("/events/token", {
    method: "POST",
    headers: { authorization: `Bearer ${$("token").value}` },
  });
  if (!res.ok) throw new Error(`token request failed: ${res.status}`);
  return (await res.json()).token;
}

async function connect() {
  source?.close();
  setState("connecting");
  try {
    const token = await streamToken();
    const url = new URL("/events/stream", location.href);
    url.searchParams.set("token", token);
    if (lastEventId) url.searchParams.set("lastEventId", lastEventId);
    source = new EventSource(url);
  } catch (error) {
    setState("error");
    show("error", String(error));
    return;
  }
  source.addEventListener("connected", (e) => {
    setState("open");
    $("resumed").textContent = String(JSON.parse(e.data).resumed);
  });
  source.addEventListener("reset", (e) => {
    lastEventId = e.lastEventId;
    show("reset", `reset: ${e.data}`);
  });
  source.onmessage = (e) => show("event", e.data);
  source.onerror = () => {
    // The stream token in the URL may have expired: reconnect with a fresh one.
    setState("error");
    source.close();
    setTimeout(connect, 2000);
  };
  const onEvent = (e) => {
    lastEventId = e.lastEventId;
    show("event", `${e.type} ${e.data}`);
  };
  source.addEventListener("demo.message", onEvent);
  source.onmessage = onEvent;
}

$("connect").onclick = connect;
$("drop").onclick = () => {
  source?.close();
  setState("dropped");
};
$("publish").onclick = async () => {
  const to = document.querySelector('input[name="to"]:checked').value;
  let data;
  try {
    data = JSON.parse($("data").value);
  } catch {
    data = $("data").value;
  }
  const res = await fetch("/trpc/events.publish", {
    method: "POST",
    headers: { authorization: `Bearer ${$("token").value}`, "content-type": "application/json" },
    body: JSON.stringify({ type: $("type").value, data, to }),
  });
  $("publish-result").textContent = JSON.stringify(await res.json());
};

// The upstream proxy: the raw route with an Idempotency-Key, and a typed procedure over plain fetch.
$("todo-add").onclick = async () => {
  const res = await fetch("/api/todos", {
    method: "POST",
    headers: {
      authorization: `Bearer ${$("token").value}`,
      "content-type": "application/json",
      "idempotency-key": crypto.randomUUID(),
    },
    body: JSON.stringify({ title: $("todo-title").value }),
  });
  $("proxy-result").textContent = `${res.status} ${JSON.stringify(await res.json(), null, 2)}`;
};
$("todo-list").onclick = async () => {
  const res = await fetch("/trpc/proxy.listTodos", { headers: { authorization: `Bearer ${$("token").value}` } });
  $("proxy-result").textContent = `${res.status} ${JSON.stringify(await res.json(), null, 2)}`;
};
if (devToken) connect();
