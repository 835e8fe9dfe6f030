// The member's own stream (/ws/me/): the unread-notification badge and a toast for
// each new notification. Same contract as rooms: hello {after}, ready, events by seq.

const badge = document.getElementById("notification-count");
const toasts = document.getElementById("toasts");
let lastSeq = null;
let unread = 0;
let attempt = 0;
let socket = null;
let live = false; // false while the hello's replay is arriving

function showCount() {
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.hidden = unread === 0;
}

function toast(notification) {
  const link = document.createElement("a");
  link.href = notification.url;
  link.textContent = notification.title; // user text: never innerHTML
  const item = document.createElement("div");
  item.className = "toast";
  item.append(link);
  toasts.append(item);
  setTimeout(() => item.remove(), 8000);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/me/`);
  socket = ws;
  live = false;
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", after: lastSeq }));
  ws.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.type === "ready") {
      attempt = 0;
      live = true;
      lastSeq = frame.last_seq;
      unread = frame.state.unread_notifications || 0;
      showCount();
    } else if (frame.type === "event" && frame.seq > (lastSeq ?? 0)) {
      lastSeq = frame.seq;
      if (frame.kind === "notification.created" && live) {
        unread += 1;
        showCount();
        toast(frame.data);
      }
    } else if (frame.type === "error" && frame.code === "resume_too_old") {
      lastSeq = null;
      ws.close();
    }
  };
  ws.onclose = (e) => {
    if ([4401, 4403, 4404].includes(e.code)) return;
    const delay = Math.random() * Math.min(30000, 1000 * 2 ** attempt);
    attempt += 1;
    setTimeout(connect, delay);
  };
}

if (badge) {
  connect();
  setInterval(() => socket?.readyState === WebSocket.OPEN && socket.send('{"type":"ping"}'), 25000);
}
