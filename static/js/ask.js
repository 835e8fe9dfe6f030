// Ask/answer helpers: live markdown preview (rendered by the server's one renderer)
// and similar-question suggestions while a title is typed. Progressive: the forms
// work without this script.

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// Every `.preview[data-preview-for=ID]` shows the rendered markdown of textarea #ID.
export function bindPreviews(root = document, url = "/questions/preview/") {
  for (const box of root.querySelectorAll(".preview[data-preview-for]")) {
    const input = document.getElementById(box.dataset.previewFor);
    if (!input || input.dataset.previewBound) continue;
    input.dataset.previewBound = "1";
    const target = box.querySelector(".preview-body");
    let last = null;
    const update = debounce(async () => {
      const body = input.value;
      if (body === last) return;
      last = body;
      if (!body.trim()) {
        box.hidden = true;
        return;
      }
      const response = await fetch(url, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ body }),
        credentials: "same-origin",
      });
      if (!response.ok) return;
      // The server's renderer sanitised this HTML (markdown-it, raw HTML off, then nh3).
      target.innerHTML = await response.text();
      box.hidden = false;
    }, 300);
    input.addEventListener("input", update);
    if (input.value) update();
  }
}

function bindSimilar(form) {
  const title = form.querySelector("[name=title]");
  const out = document.getElementById("similar-questions");
  if (!title || !out) return;
  let last = "";
  let controller = null;
  title.addEventListener(
    "input",
    debounce(async () => {
      const text = title.value.trim();
      if (text === last) return;
      last = text;
      if (text.length < 4) {
        out.innerHTML = "";
        return;
      }
      if (controller) controller.abort();
      controller = new AbortController();
      try {
        const url = `${form.dataset.similarUrl}?${new URLSearchParams({ title: text })}`;
        const response = await fetch(url, { signal: controller.signal });
        if (response.ok) out.innerHTML = await response.text(); // server template, escaped
      } catch {
        /* aborted by a newer keystroke, or offline: keep what is shown */
      }
    }, 250),
  );
}

const form = document.getElementById("ask-form");
if (form) {
  bindSimilar(form);
  bindPreviews(form, form.dataset.previewUrl);
}
