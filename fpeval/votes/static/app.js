// The blind voting page: fetch the annotator's next pair, show it, and store each vote exactly once.
// A vote is kept in localStorage until the server acknowledged it (after its commit to disk), and is
// resent with the same uuid after a network error or a reload, so a vote is never lost nor doubled.
"use strict";

const CHOICE_KEYS = {
  "1": "left", ArrowLeft: "left",
  "2": "right", ArrowRight: "right",
  "3": "tie",
  "4": "both_bad",
  s: "skip", S: "skip",
};
const PENDING = "fpeval.pendingVote";

const $ = (id) => document.getElementById(id);
let current = null;      // the pair on screen
let shownAt = 0;         // when it appeared (time on task)
let busy = false;        // a vote is in flight

function newUuid() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function say(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

function setBusy(value) {
  busy = value;
  for (const b of document.querySelectorAll("button[data-choice]")) b.disabled = value;
}

function show(state) {
  const { done, total } = state.progress;
  $("progress").textContent = `${done} / ${total} done`;
  current = state.pair;
  if (!current) {
    $("video").removeAttribute("src");
    $("video").load();
    $("task").hidden = true;
    $("finished").hidden = false;
  } else {
    $("video").src = current.video;
    if (current.image) {
      $("input-image").src = current.image;
      $("input-image").hidden = false;
    } else {
      $("input-image").removeAttribute("src");
      $("input-image").hidden = true;
    }
    $("prompt").textContent = current.prompt || "";
    $("finished").hidden = true;
    $("task").hidden = false;
    shownAt = performance.now();
  }
  // data-pair before data-done: whoever waits for data-done sees the matching pair.
  document.body.dataset.pair = current ? current.pair_id : "";
  document.body.dataset.done = String(done);
}

async function loadNext() {
  const r = await fetch("/api/next", { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) {
    $("task").hidden = true;
    $("signin").hidden = false;
    return;
  }
  if (!r.ok) throw new Error(`the server answered ${r.status}`);
  show(await r.json());
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Send one stored vote until the server answers; returns the server's verdict.
async function send(vote) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch("/api/votes", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(vote),
      });
      if (r.ok) return { ok: true };
      const body = await r.json().catch(() => ({}));
      if (r.status >= 500) throw new Error(body.error || `server error ${r.status}`);
      return { ok: false, status: r.status, error: body.error || `refused (${r.status})` };
    } catch (err) {
      say(`Saving your vote failed (${err.message}); retrying…`);
      await sleep(Math.min(10000, 500 * 2 ** attempt));
    }
  }
}

async function flushPending() {
  const raw = localStorage.getItem(PENDING);
  if (!raw) return;
  let vote = null;
  try { vote = JSON.parse(raw); } catch { /* unreadable: drop it */ }
  if (vote) {
    const verdict = await send(vote);
    if (!verdict.ok && verdict.status !== 409) say(`An earlier vote was refused: ${verdict.error}`);
  }
  localStorage.removeItem(PENDING);
}

async function vote(choice) {
  if (busy || !current) return;
  setBusy(true);
  const v = {
    uuid: newUuid(),
    pair_id: current.pair_id,
    choice,
    time_on_task_s: Math.round(performance.now() - shownAt) / 1000,
  };
  localStorage.setItem(PENDING, JSON.stringify(v));
  try {
    const verdict = await send(v);
    localStorage.removeItem(PENDING);
    if (verdict.ok || verdict.status === 409) say("");
    else say(`Vote refused: ${verdict.error}`);
    await loadNext();
  } catch (err) {
    say(`Could not load the next pair: ${err.message}. Reload the page to continue.`);
  } finally {
    setBusy(false);
  }
}

function togglePlay() {
  const video = $("video");
  if (video.paused) video.play().catch(() => {});
  else video.pause();
}

function replay() {
  const video = $("video");
  video.currentTime = 0;
  video.play().catch(() => {});
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if ($("task").hidden) return;
  if (e.key === " ") { e.preventDefault(); togglePlay(); return; }
  if (e.key === "r" || e.key === "R") { e.preventDefault(); replay(); return; }
  const choice = CHOICE_KEYS[e.key];
  if (choice) { e.preventDefault(); vote(choice); }
});

document.addEventListener("DOMContentLoaded", async () => {
  for (const b of document.querySelectorAll("button[data-choice]")) {
    b.addEventListener("click", () => { b.blur(); vote(b.dataset.choice); });  // space must not re-click it
  }
  try {
    setBusy(true);
    await flushPending();
    await loadNext();
  } catch (err) {
    say(`Could not reach the voting server: ${err.message}. Reload the page to retry.`);
  } finally {
    setBusy(false);
  }
});
