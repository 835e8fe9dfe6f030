// Live question page: websocket contract v1 on /ws/questions/<id>/ (docs/protocol.md).
//
// Remembers the last seq applied and resumes with hello {after} after every reconnect
// (exponential backoff, full jitter). Events that change what the server renders
// (answers, acceptance, comments, edits, locks) re-fetch the answers section, so the
// page looks exactly as a reload would; scores are patched in place.

import { bindPreviews } from "./ask.js";

const FINAL_CLOSE = new Set([4401, 4403, 4404]);
const REFRESH_KINDS = new Set([
  "answer.created", "answer.edited", "answer.accepted", "answer.hidden",
  "answer.restored", "answer.deleted", "comment.created", "comment.deleted",
]);

class QuestionClient {
  constructor(root) {
    this.root = root;
    this.lastSeq = Number(root.dataset.lastSeq || 0);
    this.status = document.getElementById("live-status");
    this.attempt = 0;
    this.refreshing = null;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${this.root.dataset.wsPath}`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "hello", after: this.lastSeq, batch: true }));
    ws.onmessage = (e) => this.onFrame(JSON.parse(e.data));
    ws.onclose = (e) => this.onClose(e);
  }

  onClose(event) {
    clearInterval(this.pinger);
    if (FINAL_CLOSE.has(event.code)) {
      this.say("Live updates are off; reload to see new answers.");
      return;
    }
    this.say("Reconnecting…");
    const delay = Math.random() * Math.min(30000, 500 * 2 ** this.attempt++);
    setTimeout(() => this.connect(), delay);
  }

  say(text) {
    if (this.status) this.status.textContent = text;
  }

  onFrame(frame) {
    if (frame.type === "ready") {
      this.attempt = 0;
      this.lastSeq = frame.last_seq;
      this.say("");
      this.pinger = setInterval(() => this.ws.send('{"type":"ping"}'), 25000);
      this.applyState(frame.state || {});
    } else if (frame.type === "batch") {
      frame.frames.forEach((inner) => this.onFrame(inner));
    } else if (frame.type === "event") {
      if (frame.seq <= this.lastSeq) return; // already applied
      this.lastSeq = frame.seq;
      this.apply(frame.kind, frame.data);
    } else if (frame.type === "error" && frame.code === "resume_too_old") {
      location.reload();
    }
  }

  applyState(state) {
    const lock = document.getElementById("lock-notice");
    if (lock && "locked" in state) lock.hidden = !state.locked;
  }

  apply(kind, data) {
    if (kind === "score.updated") {
      const box = document.getElementById(`vote-${data.target}-${data.id}`);
      const score = box && box.querySelector(".score");
      if (score) {
        score.textContent = String(data.score);
        score.setAttribute("aria-label", `Score ${data.score}`);
      }
    } else if (kind === "question.edited") {
      this.refresh("#question");
    } else if (kind === "question.updated") {
      this.applyState(data);
      this.refresh("#answers");
    } else if (REFRESH_KINDS.has(kind)) {
      if (kind === "answer.created") this.say("A new answer arrived.");
      this.refresh("#answers");
    }
  }

  // Re-fetch the page and swap one section, coalescing bursts of events.
  refresh(selector) {
    if (this.refreshing) {
      this.refreshing.add(selector);
      return;
    }
    this.refreshing = new Set([selector]);
    setTimeout(async () => {
      const selectors = this.refreshing;
      this.refreshing = null;
      const only = selectors.size === 1 && selectors.has("#answers");
      const url = only ? `${location.pathname}?fragment=answers` : location.pathname;
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const sel of selectors) {
        const fresh = doc.querySelector(sel);
        const current = document.querySelector(sel);
        if (!fresh || !current) continue;
        // Keep an answer being typed.
        const draft = current.querySelector("textarea[name=body]:focus");
        const kept = draft && draft.value;
        if (sel === "#question") {
          for (const part of [".post", "h1"]) {
            const a = current.querySelector(part), b = fresh.querySelector(part);
            if (a && b) a.replaceWith(b);
          }
        } else {
          current.replaceWith(fresh);
        }
        if (kept) {
          const again = document.querySelector(`${sel} textarea[name=body]`);
          if (again) { again.value = kept; again.focus(); }
        }
        if (window.htmx) window.htmx.process(document.querySelector(sel));
      }
      bindPreviews(document);
    }, 150);
  }
}

const root = document.getElementById("question");
bindPreviews(document);
if (root && root.dataset.wsPath && "WebSocket" in window) new QuestionClient(root);
