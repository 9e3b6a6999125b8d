import { connect } from "node:net";

const FRAME_END = Buffer.from("\n\n");
const T_MARK = Buffer.from('"t":');
const CONNECTED = Buffer.from("connected");
const HEADER_END = Buffer.from("\r\n\r\n");
/** One read buffer for every socket: each read is parsed synchronously before the next one. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/**
 * Many SSE or Socket.IO connections driven by raw sockets. Frames are found by scanning bytes
 * (no per-byte string building); an event is a frame that carries the benchmark's `"t":`
 * timestamp, from which the end-to-end latency is computed when `recordLatency` is on.
 */
export class Fleet {
  events = 0;
  attached = 0;
  errors = [];
  latencies = [];
  recordLatency = false;
  sockets = [];
  /** Per-stream event counts (resume scenario). */
  perStream = [];
  onEvents = null;
  /** The bytes that make a frame an event (`"t":` unless a target's events carry other data). */
  #marker;

  /** The bytes of the frame that says the stream is attached (`connected` unless a target's differs). */
  #attachMarker;

  constructor({ marker, attachMarker } = {}) {
    this.#marker = marker === undefined ? T_MARK : Buffer.from(marker);
    this.#attachMarker = attachMarker === undefined ? CONNECTED : Buffer.from(attachMarker);
  }

  /** Opens `count` streams, `concurrency` at a time, resolving when all are attached. */
  async open(count, { kind, port, request, concurrency = 200, timeoutMs = 60_000 }) {
    const deadline = Date.now() + timeoutMs;
    let next = 0;
    const one = async () => {
      while (next < count) {
        const i = next++;
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`stream ${i} not attached in time`)), deadline - Date.now());
          const done = (error) => {
            clearTimeout(timer);
            if (error) reject(error);
            else resolve();
          };
          if (kind === "sio") this.#openSocketIo(i, port, request(i), done);
          else this.#openSse(i, port, request(i), done);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, one));
  }

  close() {
    for (const socket of this.sockets) socket.destroy();
    this.sockets = [];
  }

  #count(i, buf, start, end) {
    const at = buf.indexOf(this.#marker, start);
    if (at === -1 || at >= end) return false;
    this.events++;
    this.perStream[i] = (this.perStream[i] ?? 0) + 1;
    if (this.recordLatency) this.latencies.push(performance.now() - readNumber(buf, at + T_MARK.length));
    return true;
  }

  #openSse(i, port, { path, headers }, done) {
    let attached = false;
    let text = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n`;
    for (const [k, v] of Object.entries(headers ?? {})) text += `${k}: ${v}\r\n`;
    const parse = (_socket, buf, pos) => {
      for (;;) {
        const end = buf.indexOf(FRAME_END, pos);
        if (end === -1) return pos;
        if (!this.#count(i, buf, pos, end) && !attached) {
          const c = buf.indexOf(this.#attachMarker, pos);
          if (c !== -1 && c < end) {
            attached = true;
            this.attached++;
            done();
          }
        }
        pos = end + 2;
      }
    };
    this.#open(i, port, `${text}\r\n`, "200", parse, () => attached, done);
  }

  #openSocketIo(i, port, { path, headers }, done) {
    let attached = false;
    let text = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n`;
    for (const [k, v] of Object.entries(headers ?? {})) text += `${k}: ${v}\r\n`;
    text += "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
    // Server-to-client WebSocket frames are unmasked: opcode byte, length (7, 16 or 64 bit), payload.
    const parse = (socket, buf, pos) => {
      while (buf.length - pos >= 2) {
        let len = buf[pos + 1] & 0x7f;
        let start = pos + 2;
        if (len === 126) {
          if (buf.length - pos < 4) break;
          len = buf.readUInt16BE(pos + 2);
          start = pos + 4;
        } else if (len === 127) {
          if (buf.length - pos < 10) break;
          len = Number(buf.readBigUInt64BE(pos + 2));
          start = pos + 10;
        }
        const end = start + len;
        if (end > buf.length) break;
        const opcode = buf[pos] & 0x0f;
        if (opcode === 1) {
          const first = buf[start];
          if (first === 0x34 /* 4: socket.io packet */) {
            if (buf[start + 1] === 0x32 /* 2: event */) this.#count(i, buf, start, end);
            else if (buf[start + 1] === 0x30 /* 0: connect ack */ && !attached) {
              attached = true;
              this.attached++;
              done();
            }
          } else if (first === 0x30 /* 0: engine.io open */) socket.write(textFrame("40"));
          else if (first === 0x32 /* 2: ping */) socket.write(textFrame("3"));
        } else if (opcode === 8) socket.destroy();
        pos = end;
      }
      return pos;
    };
    this.#open(i, port, text, "101", parse, () => attached, done);
  }

  /**
   * One raw connection: sends `request`, checks the response status, then hands the body to
   * `parse(socket, buf, pos)` (which returns how far it got; the rest waits for the next read).
   */
  #open(i, port, request, expectedStatus, parse, isAttached, done) {
    let head = true;
    let rest = null;
    const socket = this.#connect(port, (chunk) => {
      const buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
      let pos = 0;
      if (head) {
        const end = buf.indexOf(HEADER_END);
        if (end === -1) {
          rest = Buffer.from(buf);
          return;
        }
        const status = buf.toString("latin1", 9, 12);
        if (status !== expectedStatus) {
          done(new Error(`stream ${i}: HTTP ${status} ${buf.toString("utf8", 0, Math.min(buf.length, 400))}`));
          socket.destroy();
          return;
        }
        head = false;
        pos = end + 4;
      }
      const before = this.events;
      pos = parse(socket, buf, pos);
      rest = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
      if (this.events > before) this.onEvents?.();
    });
    socket.on("connect", () => socket.write(request));
    this.#watch(socket, i, isAttached, done);
  }

  #connect(port, onChunk) {
    const socket = connect({
      port,
      host: "127.0.0.1",
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (nread, buf) => onChunk(buf.subarray(0, nread)) },
    });
    this.sockets.push(socket);
    return socket;
  }

  #watch(socket, i, isAttached, done) {
    socket.on("error", (error) => {
      if (!isAttached()) done(error);
      else this.errors.push(`stream ${i}: ${error.message}`);
    });
    socket.on("close", () => {
      if (!isAttached()) done(new Error(`stream ${i} closed before it was attached`));
      else if (this.sockets.length > 0) this.errors.push(`stream ${i} closed by the server`);
    });
  }
}

/** A masked client text frame (mask key 0: the payload bytes stay as they are). */
function textFrame(text) {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** Parses the decimal number starting at `at` (digits and one dot). */
function readNumber(buf, at) {
  let value = 0;
  let scale = 0;
  for (let p = at; p < buf.length; p++) {
    const c = buf[p];
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (scale !== 0) scale *= 10;
    } else if (c === 46) scale = 1;
    else break;
  }
  return scale === 0 ? value : value / scale;
}
