// Convene room client: websocket contract v1 (docs/protocol.md).
//
// Keeps the last seq it has shown, resumes with hello {after} after every
// reconnect, drops duplicates by seq, and keeps unsent messages in a visible
// outbox that is re-sent with the same client_id until the server acks them. The
// outbox is FIFO: only its oldest unsettled message is on the wire, the rest wait
// behind it, so own messages are stored in the order they were typed. The outbox is
// also kept in localStorage (per member and room), so a reload — ours on
// resume_too_old, or the member's — restores and re-sends it; without storage it
// lives in memory only.

const RETRYABLE = { rate_limited: "Posting too fast", slow_mode: "Slow mode" };
const RETRY_SECONDS = 3;
const FINAL_CLOSE = new Set([4401, 4403, 4404]);
// Heartbeat: a ping every PING_MS (the server closes a silent socket after 120 s); a
// socket that sends nothing for DEAD_MS after a ping (or after connecting) is dead.
// Tests shorten both with window.CONVENE_TEST = {pingMs, deadMs}.
const TIMING = { pingMs: 25000, deadMs: 10000, ...window.CONVENE_TEST };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Reading window.localStorage itself throws where storage is blocked.
function localStore() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class RoomClient {
  constructor(root) {
    this.root = root;
    this.roomId = root.dataset.roomId;
    this.memberId = Number(root.dataset.memberId);
    this.lastSeq = Number(root.dataset.lastSeq || 0);
    // The member's read marker when the page loaded; empty for a room never opened.
    this.lastRead = root.dataset.lastReadSeq ? Number(root.dataset.lastReadSeq) : null;
    this.zone = root.dataset.timezone || "Europe/London";
    this.messages = root.querySelector("#messages");
    this.outboxEl = root.querySelector("#outbox");
    this.form = root.querySelector("#composer");
    this.input = root.querySelector("#composer-body");
    this.sendButton = root.querySelector("#composer-send");
    this.errorEl = root.querySelector("#composer-error");
    this.connectionEl = root.querySelector("#connection");
    this.typingEl = root.querySelector("#typing");
    this.edits = new Map(); // message id -> {close, fail}: edits sent, not yet answered
    this.outbox = new Map(); // client_id -> {clientId, body, created, el, inFlight, acked, failed}, oldest first
    this.store = localStore();
    this.storeKey = `convene:outbox:v1:${this.memberId}:${this.roomId}`;
    this.settled = new Set(); // client_ids this page settled: never written back to storage
    this.attempt = 0;
    this.canPost = !(this.input && this.input.disabled);
    this.typers = new Map();
    this.lastTypingSent = 0;
    this.timeFormat = new Intl.DateTimeFormat("en-GB", {
      timeZone: this.zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    this.dayFormat = new Intl.DateTimeFormat("en-GB", {
      timeZone: this.zone, day: "numeric", month: "short", year: "numeric",
    });
    this.isoFormat = new Intl.DateTimeFormat("en-GB", {
      timeZone: this.zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset",
    });
    this.presenceEl = root.querySelector("#presence");
    this.jumpButton = root.querySelector("#jump-latest");
    this.olderButton = root.querySelector("#load-older");
    this.lastReadSent = -1; // send the first read (even seq 0): it records the visit
    this.bindComposer();
    this.bindHistory();
    this.bindNetwork();
    this.restoreOutbox();
    this.connect();
    const divider = root.querySelector("#unread-divider");
    if (divider) divider.scrollIntoView({ block: "center" });
    else this.scrollToEnd();
    if (this.isShort()) this.loadOlder({ auto: true });
  }

  // --- connection ---------------------------------------------------------
  connect() {
    clearTimeout(this.reconnectTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.setConnection("connecting", "Connecting…");
    const ws = new WebSocket(`${scheme}://${location.host}${this.root.dataset.wsPath}`);
    this.ws = ws;
    // batch: under load the server may send several consecutive events as one frame.
    ws.onopen = () => this.hello();
    ws.onmessage = (e) => {
      clearTimeout(this.deadline);
      this.deadline = null;
      this.onFrame(JSON.parse(e.data));
    };
    ws.onclose = (e) => this.onClose(e);
    this.expectFrame();
  }

  hello() {
    this.send({ type: "hello", after: this.lastSeq, batch: true });
  }

  bindNetwork() {
    setInterval(() => {
      if (!this.ready) return;
      this.send({ type: "ping" });
      this.expectFrame();
    }, TIMING.pingMs);
    window.addEventListener("offline", () => this.drop());
    // Leaving with unsent (or refused) messages: ask first. Stored ones come back when
    // the room is opened again, but until then they are not sent.
    window.addEventListener("beforeunload", (e) => {
      if (this.reloading || ![...this.outbox.values()].some((p) => !p.acked)) return;
      e.preventDefault();
      e.returnValue = "";
    });
    window.addEventListener("online", () => {
      if (this.closedForGood || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
      this.attempt = 0;
      this.connect(); // now, not after the backoff
    });
  }

  // Some frame must arrive within DEAD_MS (a pong at least), or the socket is dead.
  expectFrame() {
    if (!this.deadline) this.deadline = setTimeout(() => this.drop(), TIMING.deadMs);
  }

  // Give up on the current socket without waiting for a close handshake that may never
  // come, and take the ordinary reconnect path.
  drop() {
    const ws = this.ws;
    if (!ws || ws.readyState > WebSocket.OPEN) return; // already closing: onClose handles it
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.close();
    this.onClose({ code: 1006 });
  }

  onClose(event) {
    this.ready = false;
    for (const pending of this.outbox.values()) pending.inFlight = false; // re-sent after ready
    for (const edit of this.edits.values()) edit.fail("Connection lost: the edit may not be saved; save again.");
    clearTimeout(this.deadline);
    this.deadline = null;
    if (FINAL_CLOSE.has(event.code)) {
      const why = { 4401: "Signed out: sign in again to keep chatting.", 4403: "You no longer have access to this room.", 4404: "This room no longer exists." };
      this.closedForGood = true;
      this.setConnection("closed", why[event.code]);
      this.setInputEnabled(false);
      return;
    }
    // Exponential backoff with full jitter, capped at 30 s.
    const delay = Math.random() * Math.min(30000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.setConnection("offline", navigator.onLine
      ? `Offline: reconnecting in ${Math.ceil(delay / 1000)} s`
      : "Offline: waiting for the network");
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  setConnection(state, label) {
    this.connectionEl.dataset.state = state;
    this.connectionEl.textContent = label;
  }

  // --- frames from the server ---------------------------------------------
  onFrame(frame) {
    switch (frame.type) {
      case "event": return this.onEvent(frame);
      case "batch": return frame.frames.forEach((inner) => this.onFrame(inner));
      case "ready":
        this.ready = true;
        this.attempt = 0;
        this.lastSeq = frame.last_seq;
        this.applyState(frame.state);
        this.setConnection("live", "Live");
        this.renderPresence(frame.state.online || [], frame.state.online_count);
        this.restoreOutbox(); // what a closed tab of this room left unsent, too
        this.pump();
        this.markRead();
        return;
      case "presence": return this.renderPresence(frame.online, frame.count);
      case "state": return this.applyState(frame.state);
      case "ack": return this.onAck(frame);
      case "error": return this.onError(frame);
      case "typing": return this.onTyping(frame);
      case "pong": return;
      default: return;
    }
  }

  onEvent(frame) {
    if (frame.seq <= this.lastSeq) return; // already shown
    this.lastSeq = frame.seq;
    const data = frame.data;
    switch (frame.kind) {
      case "message.created": {
        const pending = this.outbox.get(data.client_id);
        if (pending) {
          pending.el.remove();
          this.outbox.delete(data.client_id);
          this.settle(data.client_id);
          this.pump();
        }
        if (!this.messages.querySelector(`[data-id="${data.id}"]`)) {
          this.root.querySelector("#no-messages")?.remove();
          const atEnd = this.isAtEnd();
          this.messages.append(this.renderMessage(data, frame.seq));
          if (atEnd || data.author.id === this.memberId) this.scrollToEnd();
          this.markRead();
        }
        this.typers.delete(data.author.id);
        this.renderTyping();
        return;
      }
      case "message.edited": {
        const el = this.messages.querySelector(`[data-id="${data.id}"]`);
        if (el) {
          el.dataset.body = data.body;
          el.querySelector(".body").innerHTML = data.html; // sanitised by the server's renderer
          this.markEdited(el);
        }
        return;
      }
      case "message.deleted":
        this.messages.querySelector(`[data-id="${data.id}"]`)?.remove();
        return;
      case "room.updated":
        return this.applyState(data);
      default:
        return;
    }
  }

  renderMessage(data, seq) {
    const li = document.createElement("li");
    li.className = "message";
    li.id = `message-${data.id}`;
    li.dataset.id = data.id;
    li.dataset.seq = seq;
    li.dataset.author = data.author.id;
    li.dataset.authorName = data.author.name;
    li.dataset.body = data.body;
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("a");
    author.className = "author";
    author.href = `/members/${data.author.id}/`;
    author.textContent = data.author.name;
    meta.append(author);
    if (data.author.organisation) {
      const org = document.createElement("span");
      org.className = "org";
      org.textContent = data.author.organisation;
      meta.append(" ", org);
    }
    meta.append(" ", this.timeElement(data.created));
    const body = document.createElement("div");
    body.className = "body";
    body.innerHTML = data.html; // sanitised server-side by markdown-it + nh3
    li.append(meta, body);
    if (data.edited) this.markEdited(li);
    this.decorate(li);
    return li;
  }

  // Where _message.html puts it: right after the time, before the actions.
  markEdited(li) {
    if (li.querySelector(".edited")) return;
    const mark = document.createElement("span");
    mark.className = "edited";
    mark.textContent = "(edited)";
    li.querySelector(".meta time").after(" ", mark);
  }

  // --- own messages and moderation ------------------------------------------------
  decorate(li) {
    li.querySelector(".actions")?.remove();
    const own = Number(li.dataset.author) === this.memberId;
    if (!own && !this.canModerate) return;
    const actions = document.createElement("span");
    actions.className = "actions";
    const button = (label, handler) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = label;
      b.addEventListener("click", handler);
      actions.append(b);
    };
    if (own) button("Edit", () => this.startEdit(li));
    button("Delete", () => {
      if (confirm("Delete this message for everyone?")) this.send({ type: "delete", id: Number(li.dataset.id) });
    });
    if (!own && this.canModerate) button("Mute member", () => this.muteMember(li));
    li.querySelector(".meta").append(actions);
  }

  decorateAll() {
    this.messages.querySelectorAll("li.message").forEach((li) => this.decorate(li));
  }

  startEdit(li) {
    if (li.querySelector("form.edit")) return;
    const body = li.querySelector(".body");
    const form = document.createElement("form");
    form.className = "edit";
    const area = document.createElement("textarea");
    area.value = li.dataset.body || "";
    area.rows = 2;
    area.setAttribute("aria-label", "Edit message");
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "link";
    cancel.textContent = "Cancel";
    const error = document.createElement("span");
    error.className = "error";
    error.setAttribute("role", "alert");
    form.append(area, save, cancel, " ", error);
    body.hidden = true;
    body.after(form);
    area.focus();
    const id = Number(li.dataset.id);
    const close = () => { this.edits.delete(id); form.remove(); body.hidden = false; };
    // A refused (or unanswered) edit stays in this form, with the reason beside it.
    const fail = (detail) => { this.edits.delete(id); save.disabled = false; error.textContent = detail; };
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape") close();
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (area.value === li.dataset.body) { close(); return; }
      if (!this.ready) { fail("Not connected: save again once the room is live."); return; }
      error.textContent = "";
      save.disabled = true; // until the server's ack (closes the form) or error (names the id)
      this.edits.set(id, { close, fail });
      this.send({ type: "edit", id, body: area.value });
    });
  }

  async muteMember(li) {
    const name = li.dataset.authorName || "this member";
    const reason = prompt(`Mute ${name} in this room? Reason (shown to them):`, "");
    if (reason === null) return;
    const token = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1];
    const response = await fetch(`/api/v1/members/${li.dataset.author}/mute/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token || "" },
      body: JSON.stringify({ scope: "room", room_id: Number(this.roomId), reason }),
    });
    const result = await response.json().catch(() => ({}));
    this.showError(response.ok ? "" : result.detail || `Could not mute (HTTP ${response.status}).`);
  }

  // Same text as the server's template (_message.html): "3 Dec 2026, 17:06" in the
  // member's zone, time only for today. en-GB Intl writes "Sept"; Django writes "Sep".
  day(date) {
    return this.dayFormat.format(date).replace("Sept", "Sep");
  }

  // Django's |date:"c" in the member's zone, as _message.html writes <time datetime>:
  // "2026-12-03T22:36:05.123456+05:30" (the fraction exactly as the server sent it).
  localIso(iso) {
    const part = Object.fromEntries(this.isoFormat.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
    const offset = part.timeZoneName.replace("GMT", "").replace("\u2212", "-") || "+00:00";
    const fraction = iso.match(/\.\d+/)?.[0] ?? "";
    return `${part.year}-${part.month}-${part.day}T${part.hour}:${part.minute}:${part.second}${fraction}${offset}`;
  }

  fullLabel(date) {
    return `${this.day(date)}, ${this.timeFormat.format(date)}`;
  }

  timeLabel(date) {
    return this.day(date) === this.day(new Date()) ? this.timeFormat.format(date) : this.fullLabel(date);
  }

  timeElement(iso) {
    const date = new Date(iso);
    const time = document.createElement("time");
    time.dateTime = this.localIso(iso);
    time.title = this.fullLabel(date);
    time.textContent = this.timeLabel(date);
    return time;
  }

  // `update` is a whole state (ready, state) or only the room's part (room.updated).
  applyState(update) {
    const state = (this.state = { ...this.state, ...update });
    const now = Date.now();
    const running = (until) => !until || Date.parse(until) > now;
    const roomMuted = Boolean(state.muted) && running(state.muted_until);
    const youMuted = Boolean(state.you_muted) && running(state.you_muted_until);
    const $ = (selector) => this.root.querySelector(selector);
    $("#room-muted-notice").hidden = !roomMuted;
    this.showUntil($("#room-muted-until"), state.muted_until);
    $("#room-muted-reason").textContent = state.muted_reason ? `: ${state.muted_reason}` : "";
    $("#you-muted-notice").hidden = !youMuted;
    this.showUntil($("#you-muted-until"), state.you_muted_until);
    $("#you-muted-reason").textContent = state.you_muted_reason ? ` Reason: ${state.you_muted_reason}` : "";
    if (state.can_moderate !== this.canModerate) {
      this.canModerate = state.can_moderate;
      this.decorateAll();
    }
    // A timed mute ends without any event: lift it here when it ends, and ask the
    // server (a fresh hello) whether anything else still holds.
    clearTimeout(this.muteTimer);
    const ends = [roomMuted && state.muted_until, youMuted && state.you_muted_until].filter(Boolean);
    if (ends.length) {
      const delay = Math.min(2 ** 31 - 1, Math.min(...ends.map(Date.parse)) - now + 250);
      this.muteTimer = setTimeout(() => { this.applyState({}); if (this.ready) this.hello(); }, delay);
    }
    this.youMuted = youMuted;
    this.roomMuted = roomMuted;
    const muteForm = this.root.querySelector("#mute-form");
    const unmuteForm = this.root.querySelector("#unmute-form");
    if (muteForm) muteForm.hidden = roomMuted;
    if (unmuteForm) unmuteForm.hidden = !roomMuted;
    this.canPost = this.canModerate || !(this.roomMuted || this.youMuted);
    this.setInputEnabled(this.canPost);
  }

  showUntil(el, iso) {
    el.replaceChildren(...(iso ? [" until ", this.timeElement(iso)] : []));
  }

  setInputEnabled(enabled) {
    this.input.disabled = !enabled;
    this.sendButton.disabled = !enabled;
  }

  onAck(frame) {
    if (!frame.client_id) { this.edits.get(frame.id)?.close(); return; } // an edit or delete is done
    const pending = this.outbox.get(frame.client_id);
    if (!pending) return;
    // Stored. The message.created event renders it; until then show it as sent.
    pending.el.dataset.state = "sent";
    pending.acked = true;
    pending.inFlight = false;
    this.settle(frame.client_id);
    // Stored before this page loaded (re-sent from storage): its event was in the
    // history and will not come again.
    if (frame.seq <= this.lastSeq) { pending.el.remove(); this.outbox.delete(frame.client_id); }
    if (![...this.outbox.values()].some((p) => p.failed)) this.showError("");
    this.pump();
  }

  onError(frame) {
    if (frame.code === "resume_too_old") {
      // The outbox is in storage: the reloaded page shows it again and sends it.
      this.persist();
      this.reloading = true; // no "leave the page?" prompt for our own reload
      location.reload();
      return;
    }
    const pending = frame.client_id && this.outbox.get(frame.client_id);
    if (pending) {
      pending.inFlight = false;
      if (frame.code in RETRYABLE) {
        // Still the head of the outbox: everything typed later waits behind it.
        pending.el.dataset.state = "waiting";
        this.retryLater(pending, RETRYABLE[frame.code]);
        return;
      }
      // Refused for good. Nothing typed is lost: the text stays here until the
      // member takes it back into the composer or discards it.
      this.fail(pending, frame.detail);
      this.persist(); // kept in storage as refused: shown again after a reload, never re-sent
      this.showError(frame.detail);
      this.pump();
      return;
    }
    const edit = this.edits.get(frame.id);
    if (edit) edit.fail(frame.detail);
    else this.showError(frame.detail);
  }

  fail(pending, reason) {
    this.setStatus(pending, reason);
    pending.el.dataset.state = "failed";
    pending.failed = reason;
    this.offerRecovery(pending.clientId, pending);
  }

  offerRecovery(clientId, pending) {
    if (pending.el.querySelector(".recover")) return;
    const takeBack = document.createElement("button");
    takeBack.type = "button";
    takeBack.className = "link recover";
    takeBack.textContent = "Edit and retry";
    takeBack.addEventListener("click", () => {
      this.input.value = this.input.value ? `${this.input.value}\n${pending.body}` : pending.body;
      this.discard(clientId);
      this.input.focus();
    });
    const discard = document.createElement("button");
    discard.type = "button";
    discard.className = "link recover";
    discard.textContent = "Discard";
    discard.addEventListener("click", () => this.discard(clientId));
    pending.el.append(" ", takeBack, " ", discard);
  }

  discard(clientId) {
    this.outbox.get(clientId)?.el.remove();
    this.outbox.delete(clientId);
    this.settle(clientId);
    this.showError("");
    this.pump();
  }

  onTyping(frame) {
    const member = frame.member;
    if (!member || member.id === this.memberId) return;
    this.typers.set(member.id, { name: member.name, until: Date.now() + 5000 });
    this.renderTyping();
    setTimeout(() => this.renderTyping(), 5100);
  }

  renderTyping() {
    const now = Date.now();
    const names = [...this.typers.values()].filter((t) => t.until > now).map((t) => t.name);
    this.typingEl.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  // --- sending ------------------------------------------------------------
  bindComposer() {
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => {
      const now = Date.now();
      if (this.ready && now - this.lastTypingSent > 3000) {
        this.lastTypingSent = now;
        this.send({ type: "typing" });
      }
    });
  }

  submit() {
    const body = this.input.value;
    if (!body.trim()) { this.showError("Write something first."); return; }
    if (!this.canPost) { this.showError("You cannot post here right now."); return; }
    this.queue(uuid(), body, Date.now());
    this.input.value = "";
    this.showError("");
    this.persist();
    this.pump();
  }

  // Show a message in the outbox, to be sent (by pump) in turn.
  queue(clientId, body, created) {
    const el = document.createElement("li");
    el.className = "pending";
    el.dataset.clientId = clientId;
    el.dataset.state = "queued";
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = body;
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = this.ready ? "Waiting…" : "Waiting for connection…";
    const separator = document.createElement("span");
    separator.className = "separator";
    separator.setAttribute("aria-hidden", "true");
    separator.textContent = " — ";
    el.append(text, separator, status);
    this.outboxEl.append(el);
    this.outbox.set(clientId, { clientId, body, created, el });
  }

  // --- the outbox in storage ----------------------------------------------
  // One list per member and room: [{clientId, body, created, failed?}], oldest first. It
  // holds what is not settled (acked, seen as message.created, taken back, discarded);
  // a message refused for good stays, marked with the reason, and is not sent again.
  storedOutbox() {
    try {
      const items = JSON.parse(this.store?.getItem(this.storeKey) || "[]");
      if (!Array.isArray(items)) return [];
      // Keep anything with an id and text; repair the rest (nothing typed is dropped).
      return items.filter((item) => item && typeof item.clientId === "string" && UUID.test(item.clientId)
        && typeof item.body === "string" && item.body.trim())
        .map((item) => ({
          clientId: item.clientId,
          body: item.body,
          created: Number.isFinite(item.created) ? item.created : 0,
          ...(item.failed === undefined ? {} : { failed: typeof item.failed === "string" ? item.failed : "Refused." }),
        }));
    } catch {
      return []; // unreadable or corrupt: nothing to restore
    }
  }

  // Unsent messages left by an earlier page (reloaded, closed, or another tab of the
  // same room): shown again and sent after ready with their own client_id, which the
  // server recognises if one was in fact stored.
  restoreOutbox() {
    let added = false;
    for (const item of this.storedOutbox()) {
      if (this.outbox.has(item.clientId) || this.settled.has(item.clientId)) continue;
      this.queue(item.clientId, item.body, item.created);
      if (item.failed) this.fail(this.outbox.get(item.clientId), item.failed);
      added = true;
    }
    if (added) this.sortOutbox();
  }

  // Oldest first, by when each was typed (in whichever tab), on screen and on the wire.
  sortOutbox() {
    const items = [...this.outbox.values()].sort((a, b) => a.created - b.created);
    this.outbox = new Map(items.map((item) => [item.clientId, item]));
    for (const item of items) this.outboxEl.append(item.el);
  }

  settle(clientId) {
    this.settled.add(clientId);
    this.persist();
  }

  // Write this page's unsettled messages, keeping those another open tab of the same
  // room has stored (they are not this page's to drop).
  persist() {
    if (!this.store) return;
    // Refused ones too (with the reason), until taken back or discarded: nothing typed is lost.
    const mine = [...this.outbox.values()].filter((p) => !p.acked)
      .map(({ clientId, body, created, failed }) => ({ clientId, body, created, ...(failed ? { failed } : {}) }));
    const others = this.storedOutbox().filter((item) => !this.outbox.has(item.clientId) && !this.settled.has(item.clientId));
    const items = [...mine, ...others].sort((a, b) => a.created - b.created);
    try {
      if (items.length) this.store.setItem(this.storeKey, JSON.stringify(items));
      else this.store.removeItem(this.storeKey);
    } catch (error) {
      // Full or refused: the outbox still works, in memory only (the unload prompt guards it).
      console.warn(`Convene: could not keep the outbox in storage (${error.name}).`);
    }
  }

  // Send the oldest unsettled message, unless it is already on the wire or waiting out
  // a rate limit. Called whenever the outbox or the connection changes.
  pump() {
    if (!this.ready || this.sendPause) return;
    const head = [...this.outbox.values()].find((p) => !p.acked && !p.failed);
    if (!head || head.inFlight) return;
    head.inFlight = true;
    head.el.dataset.state = "sending";
    this.setStatus(head, "Sending…");
    this.send({ type: "send", client_id: head.clientId, body: head.body });
  }

  retryLater(pending, why) {
    let left = RETRY_SECONDS;
    const tick = () => {
      this.sendPause = null;
      if (left === 0) { this.pump(); return; }
      this.setStatus(pending, `${why}: retrying in ${left} s…`);
      left -= 1;
      this.sendPause = setTimeout(tick, 1000);
    };
    tick();
  }

  setStatus(pending, text) {
    pending.el.querySelector(".status").textContent = text;
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  showError(text) {
    this.errorEl.textContent = text;
    this.errorEl.hidden = !text;
  }

  // `online` names up to 50 members; `count` is everyone (this member included).
  renderPresence(online, count = online.length) {
    const me = online.some((m) => m.id === this.memberId) ? 1 : 0;
    const others = online.filter((m) => m.id !== this.memberId).map((m) => m.name).slice(0, 12);
    const more = Math.max(0, count - me - others.length);
    this.presenceEl.textContent = others.length
      ? `Here now: ${others.join(", ")}${more ? ` and ${more} more` : ""}`
      : count > 1 ? `${count - 1} others here now` : "Nobody else is here right now.";
  }

  // --- history and attention ------------------------------------------------------
  bindHistory() {
    this.messages.addEventListener("scroll", () => {
      this.jumpButton.hidden = this.isAtEnd();
      if (this.isAtEnd()) this.markRead();
      if (this.messages.scrollTop < 40) this.loadOlder();
    });
    // Already at the top (the page opened there, at an unread divider, or the list is
    // too short to scroll), scrolling up changes nothing and fires no scroll event:
    // the attempt itself asks for older messages.
    const list = this.messages;
    const atTop = () => list.scrollTop <= 0;
    list.addEventListener("wheel", (e) => { if (e.deltaY < 0 && atTop()) this.loadOlder(); }, { passive: true });
    list.addEventListener("keydown", (e) => {
      if (e.target.closest("textarea, input, [contenteditable]")) return; // an edit in progress
      if (["PageUp", "Home", "ArrowUp"].includes(e.key) && atTop()) this.loadOlder();
    });
    let touchY = null;
    list.addEventListener("touchstart", (e) => { touchY = e.touches[0]?.clientY ?? null; }, { passive: true });
    list.addEventListener("touchmove", (e) => {
      const y = e.touches[0]?.clientY;
      // A finger moving down drags the content down: scrolling up.
      if (touchY === null || y === undefined || y - touchY < 10 || !atTop()) return;
      touchY = null; // once per gesture
      this.loadOlder();
    }, { passive: true });
    this.jumpButton.addEventListener("click", () => this.scrollToEnd());
    this.olderButton.addEventListener("click", () => this.loadOlder());
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  markRead() {
    if (!this.ready || document.visibilityState !== "visible" || !this.isAtEnd()) return;
    if (this.lastSeq <= this.lastReadSent) return;
    this.lastReadSent = this.lastSeq;
    this.send({ type: "read", seq: this.lastSeq });
  }

  // `auto`: the page asked, not the member; such a load never asks for another.
  async loadOlder({ auto = false } = {}) {
    if (this.loadingOlder || this.olderButton.hidden) return;
    const first = this.messages.querySelector(".message");
    if (!first) return;
    this.loadingOlder = true;
    let loaded = false;
    try {
      const url = `/api/v1/rooms/${this.roomId}/messages/?before=${first.dataset.seq}&limit=50`;
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = await response.json();
      const height = this.messages.scrollHeight;
      const items = page.items.filter((m) => !this.messages.querySelector(`[data-id="${m.id}"]`));
      this.messages.prepend(...items.map((m) => this.renderMessage(m, m.seq))); // above all, divider too
      this.placeDivider();
      this.messages.scrollTop += this.messages.scrollHeight - height; // keep the reader's place
      if (!page.next) this.olderButton.hidden = true;
      loaded = true;
    } catch (error) {
      this.showError(`Could not load older messages (${error.message}).`);
    } finally {
      this.loadingOlder = false;
    }
    // Still too short to scroll: one more page (once: the next comes when the member
    // scrolls up again).
    if (loaded && !auto && this.isShort()) this.loadOlder({ auto: true });
  }

  // The server puts the divider before the first unread message it shows; with more
  // unread than one page that is the top of the page, so it moves as older pages load.
  placeDivider() {
    const divider = this.root.querySelector("#unread-divider");
    if (!divider || this.lastRead === null) return;
    const first = [...this.messages.querySelectorAll("li.message")].find((li) => Number(li.dataset.seq) > this.lastRead);
    if (first) first.before(divider);
  }

  // --- scrolling ------------------------------------------------------------
  // Older messages exist but the list does not fill its box, so it cannot scroll.
  isShort() {
    const el = this.messages;
    return !this.olderButton.hidden && el.scrollHeight <= el.clientHeight;
  }

  isAtEnd() {
    const el = this.messages;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  scrollToEnd() {
    this.messages.scrollTop = this.messages.scrollHeight;
    this.jumpButton.hidden = true;
    this.markRead();
  }
}

const root = document.getElementById("room");
if (root) window.convene = new RoomClient(root);
