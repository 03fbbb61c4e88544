// Notebook voting widget (anywidget): the same blind pair and keys as the web page. A click or key sends
// {type: "vote", ...} to Python, which stores it through the same session code and sends the next pair.
const CHOICES = [
  ["left", "1", "Left is better"],
  ["right", "2", "Right is better"],
  ["tie", "3", "Equally good"],
  ["both_bad", "4", "Both bad"],
  ["skip", "s", "Skip"],
];
const KEYS = { "1": "left", ArrowLeft: "left", "2": "right", ArrowRight: "right", "3": "tie", "4": "both_bad", s: "skip" };

function blobUrl(view, type) {
  if (!view || view.byteLength === 0) return "";
  return URL.createObjectURL(new Blob([view], { type }));
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function render({ model, el }) {
  el.classList.add("fpeval-vote");
  el.tabIndex = 0;  // focusable, so the keys work once the widget is clicked
  el.innerHTML = `
    <div class="fpv-head"><strong>Which clip is better?</strong> <span class="fpv-progress"></span></div>
    <div class="fpv-task">
      <div class="fpv-context"><img class="fpv-image" alt="start image"><q class="fpv-prompt"></q></div>
      <video class="fpv-video" muted loop playsinline autoplay></video>
      <div class="fpv-sides"><span>left</span><span>right</span></div>
      <div class="fpv-choices"></div>
      <div class="fpv-keys">keys: 1/← left, 2/→ right, 3 tie, 4 both bad, s skip, space pause, r replay</div>
    </div>
    <div class="fpv-finished">All done: every pair assigned to you has a vote. Thank you.</div>
    <div class="fpv-message"></div>`;
  const q = (c) => el.querySelector(c);
  const video = q(".fpv-video");
  const image = q(".fpv-image");
  let urls = [];
  let shownAt = performance.now();
  let sent = "";  // pair_id already voted on from this view (no double sends while Python answers)

  for (const [choice, key, label] of CHOICES) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.choice = choice;
    b.textContent = `${key}: ${label}`;
    b.addEventListener("click", () => vote(choice));
    q(".fpv-choices").appendChild(b);
  }

  function vote(choice) {
    const pair = model.get("pair_id");
    if (!pair || sent === pair) return;
    sent = pair;
    const t = Math.round(performance.now() - shownAt) / 1000;
    model.send({ type: "vote", choice, uuid: uuid(), pair_id: pair, time_on_task_s: t });
  }

  function update() {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = [blobUrl(model.get("video"), "video/mp4"), blobUrl(model.get("image"), "image/png")];
    const finished = model.get("finished");
    q(".fpv-progress").textContent = `${model.get("done")} / ${model.get("total")} done`;
    q(".fpv-task").hidden = finished;
    q(".fpv-finished").hidden = !finished;
    q(".fpv-prompt").textContent = model.get("prompt");
    q(".fpv-message").textContent = model.get("message");
    if (urls[0]) video.src = urls[0]; else video.removeAttribute("src");
    if (urls[1]) { image.src = urls[1]; image.hidden = false; } else image.hidden = true;
    sent = model.get("message") ? "" : sent;  // a refused vote may be cast again
    shownAt = performance.now();
  }

  el.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    if (e.key === " ") { e.preventDefault(); video.paused ? video.play() : video.pause(); return; }
    if (e.key === "r") { video.currentTime = 0; video.play(); return; }
    const choice = KEYS[e.key];
    if (choice) { e.preventDefault(); vote(choice); }
  });
  for (const name of ["pair_id", "video", "image", "prompt", "done", "total", "finished", "message"]) {
    model.on(`change:${name}`, update);
  }
  update();
  return () => urls.forEach((u) => URL.revokeObjectURL(u));
}

export default { render };
