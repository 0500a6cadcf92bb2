// The dashboard's behaviour: submit jobs, follow them live, show results, edit brands.
// Calls the same /api as scripts, authenticated by the session cookie plus the CSRF token.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
// Job statuses as the server names them (portal.jobs.state.JobStatus), from base.html.
const JOB_STATES = JSON.parse(document.getElementById("job-states").textContent);
const STATUS = JOB_STATES.statuses;
const TERMINAL = JOB_STATES.finished;

async function api(method, path, body, headers = {}) {
  const options = { method, headers: { "X-CSRF-Token": csrf, ...headers }, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : type.startsWith("image/") ? await response.blob() : null;
  if (!response.ok) {
    // the API's errors are {"error": {"code", "message"}}; v3's routes answer {"error": "..."}
    const message = data && data.error ? data.error.message || data.error : `The server answered ${response.status}.`;
    const error = new Error(message);
    error.outage = response.status === 503;  // the banner says so, and goes when the service is back
    if (error.outage) showOutage(message, Number(response.headers.get("Retry-After")) || 10);
    throw error;
  }
  return data;
}

// A 503 means a database, queue or bucket is down for a while: a banner says so and the page checks
// again (every Retry-After seconds) until the service answers, then hides it and reloads the job list.
let outageTimer = null;

function showOutage(message, retryAfter) {
  const banner = document.getElementById("outage");
  banner.textContent = `${message} The page tries again by itself.`;
  banner.hidden = false;
  clearTimeout(outageTimer);
  outageTimer = setTimeout(async () => {
    outageTimer = null;
    try {
      await api("GET", "/api/jobs?limit=1");
    } catch (error) {
      return;  // still down: api() showed the banner again and set the next check
    }
    banner.hidden = true;
    if (document.getElementById("jobs")) loadJobs(true).catch(() => {});
  }, retryAfter * 1000);
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function size(bytes) {
  return bytes > 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

function showMessage(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// ---- post text and repost warnings (jobs and the library) ----------------------------------------

function postText(text, label) {
  const copy = el("button", { type: "button", class: "secondary", text: "Copy post text", "aria-label": `Copy post text for ${label}` });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = "Copied";
    } catch (e) { copy.textContent = "Select the text to copy it"; }
  });
  return el("div", { class: "post-text" }, el("pre", { text }), copy);
}

function renderWarnings(node, warnings) {
  if (!warnings || !warnings.length) return;
  node.append(el("ul", { class: "warnings", role: "status", "aria-label": "Already branded" },
    ...warnings.map((warning) => el("li", { "data-brand": warning.brand, "data-job": warning.job_id },
      `Already branded for ${warning.brand} on `,
      el("time", { datetime: warning.at, text: new Date(warning.at).toLocaleDateString(undefined, { dateStyle: "medium" }) }),
      ` (job ${warning.job_id.slice(0, 8)}). You can go on.`))));
}

// ---- jobs ----------------------------------------------------------------------------------------

// A job's row: its own in the list, or inside its batch's row (one row per submission of several sources,
// with one ZIP of every output, a folder per source).
function slotFor(job, atEnd) {
  const list = document.getElementById("jobs");
  let parent = list;
  if (job.batch_id) {
    let batch = document.getElementById(`batch-${job.batch_id}`);
    if (!batch) {
      batch = el("li", { id: `batch-${job.batch_id}`, class: "batch" },
        el("div", { class: "job-head" }, el("strong", { class: "batch-title", text: "Batch" })),
        el("ul", { class: "jobs batch-jobs" }),
        el("a", { class: "button secondary batch-zip", href: `/api/batches/${job.batch_id}/archive`, hidden: "",
          text: "Download the batch (ZIP)" }));
      if (atEnd) list.append(batch); else list.prepend(batch);
    }
    parent = batch.querySelector(".batch-jobs");
  }
  const item = el("li", { id: `job-${job.id}` });
  if (atEnd) parent.append(item); else parent.prepend(item);
  return item;
}

function updateBatch(batchId) {
  const batch = document.getElementById(`batch-${batchId}`);
  if (!batch) return;
  const jobs = batch.querySelectorAll(".batch-jobs > li");
  const done = batch.querySelectorAll(".batch-jobs > li.completed").length;
  batch.querySelector(".batch-title").textContent = `Batch of ${jobs.length} sources · ${done} done`;
  batch.querySelector(".batch-zip").hidden = !done;
}

function formatNames(job) {
  return job.formats.map((format) => format.preset).join(", ");
}

function renderJob(job) {
  const item = document.getElementById(`job-${job.id}`) || slotFor(job, false);
  const fresh = el("li", { id: `job-${job.id}`, class: `job ${job.status}`, "data-status": job.status });
  const adjuster = item.querySelector(".adjuster");  // an editor open on this job stays open
  const captions = item.querySelector(".transcript");
  item.replaceWith(fresh);
  renderJobInto(fresh, job);
  if (adjuster && job.status === STATUS.COMPLETED) fresh.append(adjuster);
  if (captions && job.status === STATUS.COMPLETED) fresh.append(captions);
  if (job.batch_id) updateBatch(job.batch_id);
}

function renderJobInto(item, job) {
  const title = job.source.title || job.source.name;
  item.append(el("div", { class: "job-head" },
    el("strong", { text: title }),
    el("span", { class: "status", text: job.stage && !TERMINAL.includes(job.status) ? `${job.status} · ${job.stage}` : job.status })));
  item.append(el("div", { class: "meta" },
    el("time", { datetime: job.created_at, text: when(job.created_at) }),
    ` · ${job.kind === "fetch" ? "download only" : job.brands.join(", ")} · ${formatNames(job)}`));
  renderWarnings(item, job.warnings);
  const done = job.outputs.length && job.outputs[0].edits;
  if (done) item.append(el("div", { class: "meta edits-done", text: editsText(done) }));
  if (!TERMINAL.includes(job.status)) {
    const bar = el("div", { class: "progress", role: "progressbar", "aria-label": `Progress of ${title}`,
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(job.progress)) });
    const fill = el("span");
    fill.style.width = `${job.progress}%`;  // CSSOM, not a style attribute: the page's CSP allows only this
    bar.append(fill);
    item.append(bar);
    const cancel = el("button", { type: "button", class: "secondary", text: "Cancel" });
    cancel.addEventListener("click", () => api("POST", `/api/jobs/${job.id}/cancel`).then((d) => renderJob(d.job)).catch((e) => alert(e.message)));
    item.append(cancel);
    follow(job.id);
  }
  if (job.status === STATUS.FAILED || job.status === STATUS.CANCELLED) {
    if (job.error) item.append(el("p", { class: "error", role: "alert", text: job.error.message }));
    const retry = el("button", { type: "button", text: "Retry" });
    retry.addEventListener("click", () => api("POST", `/api/jobs/${job.id}/retry`).then((d) => renderJob(d.job)).catch((e) => alert(e.message)));
    item.append(retry);
  }
  if (job.status === STATUS.FAILED && job.kind === "render" && job.source.kind === "url") offerUpload(item, job, title);
  if (job.status === STATUS.COMPLETED) {
    // the review grid: this source's outputs grouped by brand, one card (its cover) per format
    for (const brand of [...new Set(job.outputs.map((output) => output.brand))]) {
      const outputs = el("div", { class: "outputs" });
      for (const output of job.outputs.filter((o) => o.brand === brand)) outputs.append(outputCard(item, job, output));
      item.append(el("section", { class: "output-group", "aria-label": `${brand} outputs` },
        el("h4", { text: brand }), outputs));
    }
    followRerenders(job);
    if (job.outputs.some((output) => output.review !== "approved")) {
      item.append(reviewButton("Approve all", `/api/jobs/${job.id}/review`, "approved", "secondary"));
    }
    if (job.outputs.length) item.append(el("a", { class: "button secondary", href: `/api/jobs/${job.id}/archive`, text: "Download all (ZIP)" }));
    if (job.source_id && job.outputs.some((output) => output.captions)) item.append(captionsButton(item, job.source_id));
  }
  renderWebhooks(item, job);
}

// A link that failed for good: the same job (brands, formats) from a file the user has.
function offerUpload(item, job, title) {
  const picker = el("input", { type: "file", accept: "video/*", hidden: "", "aria-label": `Video file for ${title}` });
  const button = el("button", { type: "button", class: "secondary", text: "Upload the file instead" });
  const message = el("p", { class: "error", role: "alert", hidden: "" });
  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", async () => {
    button.disabled = true;
    try {
      const body = new FormData();
      body.append("file", picker.files[0]);
      const uploaded = await api("POST", "/api/uploads", body);
      const data = await api("POST", "/api/videos/process",
        { upload_id: uploaded.upload.id, brands: job.brands, formats: job.formats });
      renderJob(data.job);
    } catch (error) {
      showMessage(message, error.message);
    } finally {
      button.disabled = false;
    }
  });
  item.append(button, picker, message);
}

// ---- sites and cookies (docs/ACQUISITION.md) ------------------------------------------------------

function when(iso) {
  return new Date(iso).toLocaleString();
}

async function loadSites() {
  const data = await api("GET", "/api/sites");
  const failing = data.sites.filter((site) => site.paused_until || site.failures_in_a_row);
  document.getElementById("sites").replaceChildren(...failing.map((site) => el("li",
    { class: `site${site.paused_until ? " paused" : ""}`, "data-site": site.site },
    el("strong", { text: site.site }),
    el("span", { text: ` · ${site.failures_in_a_row} failed in a row (${site.last_code})` +
      (site.paused_until ? ` · paused until ${when(site.paused_until)}: its jobs wait` : "") }),
    el("p", { class: "meta", text: site.last_reason || "" }))));
  document.getElementById("sites-none").hidden = failing.length > 0;
}

function cookieState(file) {
  if (file.state === "signin_asked") return `the site asked for a sign-in at ${when(file.signin_asked_at)}`;
  if (file.state === "working") return `working (last used ${when(file.worked_at)})`;
  return "not used yet";
}

async function loadCookies() {
  const data = await api("GET", "/api/cookies");
  document.getElementById("cookie-files").replaceChildren(...data.cookies.files.map((file) => {
    const forget = el("button", { type: "button", class: "secondary", text: "Forget" });
    forget.addEventListener("click", () => api("DELETE", `/api/cookies/${file.id}`).then(loadCookies).catch((e) => alert(e.message)));
    return el("li", { class: `cookie-file ${file.state}`, "data-state": file.state },
      el("strong", { text: file.site === "*" ? "every site" : file.site }),
      el("span", { class: "cookie-state", text: ` · ${file.lines} cookies · ${cookieState(file)} ` }), forget);
  }));
}

async function uploadCookies(event) {
  event.preventDefault();
  const form = event.target;
  const message = document.getElementById("cookies-message");
  const file = form["cookies-file"].files[0];
  if (!file) return showMessage(message, "Choose a cookies file.");
  const body = new FormData();
  body.append("file", file);
  if (form.site.value.trim()) body.append("site", form.site.value.trim());
  try {
    const data = await api("POST", "/api/cookies", body);
    const site = data.cookies.site === "*" ? "every site" : data.cookies.site;
    showMessage(message, `Stored for ${site}: ${data.cookies.lines} cookies.`);
    form.reset();
    await loadCookies();
  } catch (error) {
    showMessage(message, error.message);
  }
}

// Review (docs/DASHBOARD.md): each output is pending, approved or rejected; the answer redraws the job.
function reviewButton(label, path, state, cls) {
  const button = el("button", { type: "button", class: cls, text: label });
  button.addEventListener("click", () => api("POST", path, { state }).then((d) => renderJob(d.job)).catch((e) => alert(e.message)));
  return button;
}

function reviewControls(item, job, output) {
  const path = `/api/jobs/${job.id}/outputs/${output.number}/review`;
  const adjust = el("button", { type: "button", class: "secondary", text: "Adjust" });
  adjust.addEventListener("click", () => openAdjuster(item, job, output));
  return el("div", { class: "review" },
    el("span", { class: "review-state", text: output.review }),
    ...(output.review === "approved" ? [] : [reviewButton("Approve", path, "approved", "")]),
    ...(output.review === "rejected" ? [] : [reviewButton("Reject", path, "rejected", "secondary")]),
    adjust);
}

function outputCard(item, job, output) {
  const label = `${output.brand} · ${output.format}`;
  const card = el("figure", { class: `output review-${output.review}`, "data-number": String(output.number), "aria-label": label },
    el("video", { controls: "", preload: "metadata", playsinline: "", src: output.url, ...(output.cover_url ? { poster: output.cover_url } : {}) }),
    el("figcaption", {},
      el("span", { text: `${label}${output.version > 1 ? " · v" + output.version : ""} · ${output.width}×${output.height} · ${output.duration.toFixed(1)} s · ${size(output.size_bytes)}` }),
      el("a", { href: output.url, download: output.filename, text: "Download" }),
      output.post_text ? postText(output.post_text, label) : "",
      reviewControls(item, job, output)));
  const again = output.rerender;
  if (again && again.status === "failed") {
    card.append(el("p", { class: "error", role: "alert", text: `Rendering again failed: ${again.error}` }));
  } else if (again) {
    const bar = el("div", { class: "progress", role: "progressbar", "aria-label": `Rendering ${label} again`,
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(again.progress)) });
    const fill = el("span");
    fill.style.width = `${again.progress}%`;  // CSSOM, not a style attribute: the page's CSP allows only this
    bar.append(fill);
    card.append(el("p", { class: "meta", text: again.status === "queued" ? "Queued to render again" : "Rendering again…" }), bar);
  }
  return card;
}

// While an output of a job is being rendered again, the job is fetched every second (its card's bar).
const rerenderPolls = new Map();
function followRerenders(job) {
  clearTimeout(rerenderPolls.get(job.id));
  if (!job.outputs.some((output) => output.rerender && output.rerender.status !== "failed")) return;
  rerenderPolls.set(job.id, setTimeout(() => api("GET", `/api/jobs/${job.id}`).then((d) => renderJob(d.job)).catch(() => followRerenders(job)), 1000));
}

// Adjust (docs/DASHBOARD.md): the output's frame with its layers outlined; drag a layer (mouse or finger)
// or its corner to resize it; each change asks the engine for a new still (the same plan as the render),
// and "Render this one again" renders this output alone with the changes.
function openAdjuster(item, job, output) {
  const open = item.querySelector(".adjuster");
  if (open) open.remove();
  const overrides = new Map();  // layer index -> {index, x, y, width}
  const label = `${output.brand} · ${output.format}`;
  const still = el("img", { class: "still", alt: `The engine's still of ${label}` });
  const stage = el("div", { class: "stage" }, still);
  const status = el("p", { class: "meta", role: "status" });
  const renderAgain = el("button", { type: "button", text: "Render this one again" });
  const close = el("button", { type: "button", class: "secondary", text: "Close" });
  const panel = el("section", { class: "adjuster", "aria-label": `Adjust ${label}` },
    el("h4", { text: `Adjust ${label}` }), stage, status, el("div", { class: "review" }, renderAgain, close));
  item.append(panel);
  panel.scrollIntoView({ block: "nearest" });
  close.addEventListener("click", () => panel.remove());
  renderAgain.addEventListener("click", () => {
    renderAgain.disabled = true;
    api("POST", `/api/jobs/${job.id}/outputs/${output.number}/render`, { layers: [...overrides.values()] })
      .then((d) => { panel.remove(); renderJob(d.job); })
      .catch((e) => { renderAgain.disabled = false; showMessage(status, e.message); });
  });

  let busy = false, again = false, timer = null, shown = 0;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    showMessage(status, "Updating the still…");
    try {
      const data = await api("POST", `/api/jobs/${job.id}/outputs/${output.number}/still`, { layers: [...overrides.values()] });
      still.src = data.still;
      stage.style.aspectRatio = `${data.width} / ${data.height}`;
      drawBoxes(data.layers);
      stage.dataset.stills = String(++shown);
      showMessage(status, "");
    } catch (e) {
      showMessage(status, e.message);
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  const changed = () => { clearTimeout(timer); timer = setTimeout(refresh, 150); };

  function drawBoxes(layers) {
    stage.querySelectorAll(".layer-box").forEach((box) => box.remove());
    for (const layer of layers.filter((l) => !l.full_frame)) {
      const name = layer.text ? `Layer ${layer.index}: “${layer.text}”` : `Layer ${layer.index}: image`;
      const box = el("div", { class: "layer-box", "aria-label": name, title: name, "data-index": String(layer.index) },
        el("span", { class: "resize", "aria-label": `Resize layer ${layer.index}` }));
      place(box, layer.x, layer.y, layer.width, layer.height);
      box.addEventListener("pointerdown", (event) => startGesture(event, box, layer));
      stage.append(box);
    }
  }
  function place(box, x, y, w, h) {
    Object.assign(box.dataset, { x, y, w, h });
    Object.assign(box.style, { left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${h * 100}%` });
  }
  function startGesture(event, box, layer) {
    event.preventDefault();
    const resizing = event.target.classList.contains("resize");
    const rect = stage.getBoundingClientRect();
    const start = { px: event.clientX, py: event.clientY, x: +box.dataset.x, y: +box.dataset.y, w: +box.dataset.w, h: +box.dataset.h };
    box.setPointerCapture(event.pointerId);
    const move = (e) => {
      const dx = (e.clientX - start.px) / rect.width, dy = (e.clientY - start.py) / rect.height;
      if (resizing) {
        const w = Math.min(1, Math.max(0.02, start.w + dx));
        place(box, start.x, start.y, w, start.h * (w / start.w));
      } else {
        place(box, Math.min(1 - start.w, Math.max(0, start.x + dx)), Math.min(1 - start.h, Math.max(0, start.y + dy)), start.w, start.h);
      }
    };
    const end = () => {
      box.removeEventListener("pointermove", move);
      box.removeEventListener("pointerup", end);
      box.removeEventListener("pointercancel", end);
      const x = +box.dataset.x, y = +box.dataset.y, w = +box.dataset.w, h = +box.dataset.h;
      const round = (v) => Math.round(v * 10000) / 10000;
      overrides.set(layer.index, { ...(overrides.get(layer.index) || {}), index: layer.index,
        x: round(x + w / 2), y: round(y + h / 2), ...(resizing ? { width: round(w) } : {}) });
      changed();
    };
    box.addEventListener("pointermove", move);
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
  }
  refresh();
}

// A job's webhook deliveries (docs/API.md): how each went, refreshed while one is still being tried.
const webhookRefresh = new Map();

function webhookText(delivery) {
  const tries = `${delivery.attempts} ${delivery.attempts === 1 ? "try" : "tries"}`;
  const last = delivery.last_error || (delivery.last_status ? `HTTP ${delivery.last_status}` : "");
  if (delivery.status === "delivered") return `delivered (HTTP ${delivery.last_status}, ${tries})`;
  if (delivery.status === "failed") return `given up after ${tries}: ${last}`;
  if (!delivery.attempts) return "sending";
  return `${tries} failed (${last}); next try ${new Date(delivery.next_try_at).toLocaleTimeString()}`;
}

function renderWebhooks(item, job) {
  if (!job.webhooks.length) return;
  const list = el("ul", { class: "webhooks", "aria-label": "Webhook deliveries" });
  for (const delivery of job.webhooks) {
    list.append(el("li", { class: `webhook ${delivery.status}`, "data-status": delivery.status },
      el("span", { text: `Webhook ${delivery.event} → ${new URL(delivery.url).host}: ` }),
      el("span", { class: "webhook-state", text: webhookText(delivery) })));
  }
  item.append(list);
  if (job.webhooks.some((d) => d.status === "pending") && !webhookRefresh.has(job.id)) {
    webhookRefresh.set(job.id, setTimeout(async () => {
      webhookRefresh.delete(job.id);
      if (document.getElementById(`job-${job.id}`)) renderJob((await api("GET", `/api/jobs/${job.id}`)).job);
    }, 3000));
  }
}

// One event stream for every unfinished job on the page (/api/events?jobs=a,b,c), not one per job:
// it is reopened with the new list when a job is added, and closed when none is left to follow.
const following = new Set();
let stream = null;
let streamJobs = "";
let reopenTimer = null;

function follow(jobId) {
  if (following.has(jobId)) return;
  following.add(jobId);
  clearTimeout(reopenTimer);
  reopenTimer = setTimeout(openStream, 50);  // a page of jobs added at once opens one stream
}

function unfollow(jobId) {
  following.delete(jobId);
  if (!following.size && stream) { stream.close(); stream = null; streamJobs = ""; }
}

function openStream() {
  const jobs = [...following].sort().join(",");
  if (!jobs || jobs === streamJobs) return;
  if (stream) stream.close();
  streamJobs = jobs;
  stream = new EventSource(`/api/events?jobs=${encodeURIComponent(jobs)}`);
  stream.onmessage = (event) => showState(JSON.parse(event.data));
  stream.addEventListener("deleted", (event) => {
    const { id } = JSON.parse(event.data);
    unfollow(id);
    const item = document.getElementById(`job-${id}`);
    if (item) item.remove();
  });
  // On a network error the browser reconnects by itself; a stream that ended was closed by unfollow. An
  // error answer (a 503 while the database is down) closes it for good: open it again a little later.
  stream.onerror = () => {
    if (stream.readyState !== EventSource.CLOSED) return;
    stream = null;
    streamJobs = "";
    clearTimeout(reopenTimer);
    reopenTimer = setTimeout(openStream, 10000);
  };
}

async function showState(state) {
  if (!following.has(state.id)) return;  // ended already (a reconnect repeats the last states)
  const item = document.getElementById(`job-${state.id}`);
  const bar = item && item.querySelector('[role="progressbar"]');
  if (bar) {
    bar.setAttribute("aria-valuenow", String(Math.round(state.progress)));
    bar.firstElementChild.style.width = `${state.progress}%`;
    item.querySelector(".status").textContent = state.stage ? `${state.status} · ${state.stage}` : state.status;
  }
  if (TERMINAL.includes(state.status)) {
    unfollow(state.id);
    const data = await api("GET", `/api/jobs/${state.id}`);
    renderJob(data.job);
  }
}

let nextCursor = null;
let listing = 0;  // the latest listing asked for: an older answer (a filter changed meanwhile) is dropped

async function loadJobs(reset) {
  if (!reset && !nextCursor) return;  // nothing older
  const more = document.getElementById("more");
  const status = document.getElementById("status-filter").value;
  const params = new URLSearchParams({ limit: "10" });
  if (status) params.set("status", status);
  if (!reset) params.set("cursor", nextCursor);
  const ticket = ++listing;
  more.disabled = true;  // one page at a time: a second click would ask for the same page again
  try {
    const data = await api("GET", `/api/jobs?${params}`);
    if (ticket !== listing) return;
    const list = document.getElementById("jobs");
    if (reset) list.replaceChildren();
    for (const job of data.jobs) {
      // keeps the page's order (renderJob fills it in); a job already shown (just submitted) stays where it is
      if (!document.getElementById(`job-${job.id}`)) slotFor(job, true);
      renderJob(job);
    }
    nextCursor = data.next;
    more.hidden = !nextCursor;
  } finally {
    if (ticket === listing) more.disabled = false;
  }
}

async function submitJob(event) {
  event.preventDefault();
  const form = event.target;
  const message = document.getElementById("form-message");
  showMessage(message, "");
  const { brands, urls, files, formats, fit } = selection(form);
  if (!brands.length) return showMessage(message, "Tick at least one brand.");
  if (!formats.length) return showMessage(message, "Tick at least one format.");
  if (!urls.length && !files.length) return showMessage(message, "Paste a link or choose a video file.");
  let edits;  // made once for every source, brand and format
  try { edits = sourceEdits(form); } catch (error) { return showMessage(message, error.message); }
  if (form.captions.value === "file" && !form.captions_file.files.length) {
    return showMessage(message, "Choose the captions file (SRT or WebVTT), or another source of captions.");
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const uploadIds = [];
    for (const file of files) uploadIds.push(await uploadOnce(file));  // sent once: the preview's upload
    // every source in one submission: several make one batch; a link fetched for the preview is branded
    // from its library item (no second download)
    const request = { brands, formats, ...edits, fit, ...linkSources(urls) };
    if (uploadIds.length) request.upload_ids = uploadIds;
    const captions = await captionsChoice(form);
    if (captions) request.captions = captions;
    const data = await api("POST", "/api/videos/process", request);
    for (const job of data.jobs || [data.job]) renderJob(job);
    form.urls.value = "";
    form.file.value = "";
    closeSourceEditor();
    showPlan(form);
    showStills(form);
  } catch (error) {
    showMessage(message, error.message);
  } finally {
    button.disabled = false;
  }
}

// What brands with a captions layer burn in (DESIGN 4.13): nothing sent is the server's best available
// (the clip's own transcript, else the link's subtitles, else recognition); a file is uploaded once.
async function captionsChoice(form) {
  const choice = form.captions.value;
  if (choice !== "file") return choice || null;
  return uploadOnce(form.captions_file.files[0]);
}

function selection(form) {
  return {
    brands: [...form.querySelectorAll('input[name="brands"]:checked')].map((box) => box.value),
    formats: [...form.querySelectorAll('input[name="formats"]:checked')].map((box) => box.value),
    urls: form.urls.value.split("\n").map((line) => line.trim()).filter(Boolean),
    files: [...form.file.files],
    fit: form.fit.value,
  };
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// "S sources x B brands x F formats = N outputs", counted by the server (/api/plans) as the form changes.
let planTimer = null;
function showPlan(form) {
  clearTimeout(planTimer);
  planTimer = setTimeout(async () => {
    const line = document.getElementById("plan-count");
    const { brands, formats, urls, files, fit } = selection(form);
    if (!brands.length || !formats.length) {
      line.textContent = !brands.length ? "Tick at least one brand." : "Tick at least one format.";
      return;
    }
    try {
      const request = { brands, formats, fit, files: files.map((file) => file.name), ...linkSources(urls) };
      const { plan } = await api("POST", "/api/plans", request);
      line.textContent = `${plural(plan.sources, "source")} x ${plural(plan.brands, "brand")} x ` +
        `${plural(plan.formats, "format")} = ${plural(plan.count, "output")}`;
      renderWarnings(line, plan.warnings);
    } catch (error) {
      line.textContent = error.message;
    }
  }, 150);
}

// ---- the form's preview: each ticked brand in each ticked format on a frame of the clip ------------
// The engine's stills (GET /api/brands/<id>/preview.jpg with the clip as `frame`: the render's own plan).
// A chosen file is uploaded once, when chosen (the submission reuses that upload); a link is fetched
// once on request into the library (the submission brands that library item: no second download).
const uploads = new Map();  // File -> the promise of its upload's id
const fetchedLinks = new Map();  // link -> its library item's id, once fetched
const stillCards = new Map();  // "<brand>?<its query>" -> its card, drawn once

// Each chosen file is uploaded once, when the preview, the source editor or the submission first needs it.
function uploadOnce(file) {
  if (!uploads.has(file)) {
    const body = new FormData();
    body.append("file", file);
    const upload = api("POST", "/api/uploads", body).then((data) => data.upload.id);
    upload.catch(() => uploads.delete(file));  // refused: chosen again, it is sent again
    uploads.set(file, upload);
  }
  return uploads.get(file);
}

function linkSources(urls) {
  const sources = {};
  const fresh = urls.filter((url) => !fetchedLinks.has(url));
  const kept = urls.filter((url) => fetchedLinks.has(url)).map((url) => fetchedLinks.get(url));
  if (fresh.length) sources.urls = fresh;
  if (kept.length) sources.source_ids = kept;
  return sources;
}

function checkedLabel(form, name, value) {
  const box = [...form.querySelectorAll(`input[name="${name}"]`)].find((input) => input.value === value);
  return box.parentElement.textContent.trim();
}

function stillCard(form, brand, format, frame) {
  const { fit, zoom, anchor } = framing(form);
  const query = new URLSearchParams({ preset: format, fit, frame });
  if (zoom) query.set("zoom", zoom);
  if (anchor) query.set("anchor", `${anchor.x},${anchor.y}`);
  const key = `${brand}?${query}`;
  if (stillCards.has(key)) return stillCards.get(key);
  const label = `${checkedLabel(form, "brands", brand)} x ${checkedLabel(form, "formats", format)}`;
  const picture = el("img", { alt: label });
  const state = el("p", { class: "hint", text: "Drawing…" });
  const card = el("figure", { class: "still", "aria-label": label, "aria-busy": "true" }, picture,
    el("figcaption", { text: label }), state);
  api("GET", `/api/brands/${encodeURIComponent(brand)}/preview.jpg?${query}`).then((jpeg) => {
    picture.src = URL.createObjectURL(jpeg);
    return picture.decode();
  }).then(() => state.remove()).catch((error) => {
    state.className = "error";
    state.textContent = error.message;
    stillCards.delete(key);  // drawn again next time
  }).finally(() => card.removeAttribute("aria-busy"));
  stillCards.set(key, card);
  return card;
}

let stillsTicket = 0;
async function showStills(form) {
  const ticket = ++stillsTicket;
  const grid = document.getElementById("stills");
  const message = document.getElementById("stills-message");
  const hint = document.getElementById("stills-hint");
  const { brands, formats, urls, files } = selection(form);
  document.getElementById("fetch-links").hidden = !urls.some((url) => !fetchedLinks.has(url));
  let frame = null;
  try {
    if (files.length) frame = `upload:${await uploadOnce(files[0])}`;
    else if (urls.length && fetchedLinks.has(urls[0])) frame = `source:${fetchedLinks.get(urls[0])}`;
  } catch (error) {
    if (ticket === stillsTicket) { grid.replaceChildren(); showMessage(message, error.message); }
    return;
  }
  if (ticket !== stillsTicket) return;  // the form changed meanwhile: the newer call draws
  showMessage(message, "");
  hint.hidden = Boolean(frame);
  if (!frame || !brands.length || !formats.length) return grid.replaceChildren();
  grid.replaceChildren(...brands.flatMap((brand) => formats.map((format) => stillCard(form, brand, format, frame))));
}

async function fetchLinks(form) {
  const message = document.getElementById("stills-message");
  const button = document.getElementById("fetch-links");
  const links = selection(form).urls.filter((url) => !fetchedLinks.has(url));
  if (!links.length) return;
  button.disabled = true;
  button.textContent = "Fetching…";
  showMessage(message, "");
  try {
    const { jobs } = await api("POST", "/api/videos/fetch", { urls: links }, { Prefer: "respond-async" });
    const ended = await Promise.all(jobs.map((job) => waitForJob(job.id)));
    const failed = [];
    ended.forEach((job, index) => {
      if (job.status === STATUS.COMPLETED) fetchedLinks.set(links[index], job.source_id);
      else failed.push(`${links[index]}: ${job.error || `the download was ${job.status}`}`);
    });
    await showStills(form);
    if (failed.length) showMessage(message, failed.join("\n"));
  } catch (error) {
    showMessage(message, error.message);
  } finally {
    button.disabled = false;
    button.textContent = "Fetch the links to preview";
  }
}

// ---- the library: find a clip sent before, pin or delete it, brand it again ----------------------

let sourcesCursor = null;

async function loadSources(reset) {
  const form = document.getElementById("library-search");
  const params = new URLSearchParams({ limit: "10" });
  if (form.q.value.trim()) params.set("q", form.q.value.trim());
  if (form.since.value) params.set("since", form.since.value);
  if (!reset && sourcesCursor) params.set("cursor", sourcesCursor);
  const data = await api("GET", `/api/sources?${params}`);
  const list = document.getElementById("sources");
  if (reset) list.replaceChildren();
  for (const source of data.sources) {
    const item = el("li", { id: `source-${source.id}`, class: "source" });
    fillSource(item, source);
    list.append(item);
  }
  if (reset && !data.sources.length) list.append(el("li", { class: "hint", text: "No clip matches." }));
  sourcesCursor = data.next;
  document.getElementById("more-sources").hidden = !sourcesCursor;
}

function sourceTitle(source) {
  return source.title || source.link || source.filename || "Untitled clip";
}

function fillSource(item, source, warnings) {
  const title = sourceTitle(source);
  const cover = source.cover_url
    ? el("img", { class: "cover", src: source.cover_url, alt: `Still of ${title}` })
    : el("div", { class: "cover none", text: "No still yet" });
  const facts = [source.uploader ? `by ${source.uploader}` : null,
    source.duration ? `${source.duration.toFixed(1)} s` : null, `sent ${when(source.created_at)}`];
  const page = [source.original_url, source.link].find((url) => url && /^https?:\/\//.test(url));
  const body = el("div", { class: "source-body" },
    el("h3", { text: title }),
    el("p", { class: "meta", text: facts.filter(Boolean).join(" · ") }),
    page ? el("a", { href: page, rel: "noreferrer", target: "_blank", text: page }) : "",
    el("p", { class: "meta keep", text: source.pinned ? "Pinned: kept until unpinned."
      : `Removed after ${when(source.removal_at)} unless pinned.` }));
  const pin = el("button", { type: "button", class: "secondary", text: source.pinned ? "Unpin" : "Pin" });
  pin.addEventListener("click", () => api(source.pinned ? "DELETE" : "POST", `/api/sources/${source.id}/pin`)
    .then((data) => fillSource(item, data.source)).catch((e) => alert(e.message)));
  const remove = el("button", { type: "button", class: "danger", text: "Delete" });
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete "${title}", its file and everything made from it?`)) return;
    try { await api("DELETE", `/api/sources/${source.id}`); item.remove(); } catch (e) { alert(e.message); }
  });
  const actions = el("div", { class: "actions" }, pin, remove);
  if (source.stored) {
    const captions = el("button", { type: "button", class: "secondary", "aria-expanded": "false",
      text: source.transcript ? `Captions (${source.transcript.cues})` : "Captions" });
    captions.addEventListener("click", () => {
      const open = body.querySelector(".transcript");
      captions.setAttribute("aria-expanded", String(!open));
      if (open) open.remove();
      else actions.after(transcriptEditor(source));
    });
    actions.append(captions);
  }
  body.append(actions);
  if (source.stored) body.append(brandAgainForm(item, source, warnings));
  body.append(renderRenders(source));
  item.replaceChildren(cover, body);
}

function renderRenders(source) {
  const list = el("ul", { class: "renders", "aria-label": `Made from ${sourceTitle(source)}` });
  for (const render of source.renders) {
    const line = el("li", { "data-job": render.job_id },
      el("div", { class: "meta", text: `${when(render.created_at)} · ${render.brands.join(", ")} · ${render.preset} · ${render.status}` }));
    for (const output of render.outputs) {
      line.append(el("div", { class: "output-line" },
        el("a", { href: output.url, download: output.filename, text: `${output.brand} · ${output.width}×${output.height}` }),
        output.post_text ? postText(output.post_text, output.brand) : ""));
    }
    list.append(line);
  }
  return list;
}

async function waitForJob(jobId) {
  for (;;) {
    const { job } = await api("GET", `/api/jobs/${jobId}`);
    if (TERMINAL.includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function brandAgainForm(item, source, warnings) {
  const form = el("form", { class: "brand-again", "aria-label": `Brand again: ${sourceTitle(source)}` });
  form.append(document.getElementById("brand-again-choices").content.cloneNode(true));
  const message = el("p", { class: "error", role: "alert", hidden: "" });
  const notes = el("div", { class: "notes" });
  renderWarnings(notes, warnings);
  form.append(el("button", { type: "submit", text: "Brand again" }), message, notes);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const brands = [...form.querySelectorAll('input[name="brands"]:checked')].map((box) => box.value);
    if (!brands.length) return showMessage(message, "Tick at least one brand.");
    showMessage(message, "");
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const { job } = await api("POST", "/api/videos/process", { source_id: source.id, brands, preset: form.preset.value });
      notes.replaceChildren();
      renderWarnings(notes, job.warnings);
      notes.append(el("p", { class: "meta", text: `Branding for ${brands.join(", ")}: no download needed.` }));
      const done = await waitForJob(job.id);
      if (done.status !== STATUS.COMPLETED) showMessage(message, done.error ? done.error.message : `The job ended ${done.status}.`);
      fillSource(item, (await api("GET", `/api/sources/${source.id}`)).source, job.warnings);
    } catch (e) {
      showMessage(message, e.message);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ---- captions: a clip's transcript, fixed once for every brand, format and later render (DESIGN 4.13) ----
// Each cue is a row: start and end in seconds and its text. Focusing a cue shows the clip at its start;
// "Play" plays it to its end. Save PUTs every cue; the server's 422 names the cue ("cue 2 (...): ..." or
// "cues.1.end: ..."), and the message is shown beside that cue.

function transcriptEditor(source) {
  const title = sourceTitle(source);
  const panel = el("section", { class: "transcript", "aria-label": `Captions of ${title}` });
  const video = el("video", { class: "clip", controls: "", preload: "auto", src: `/api/sources/${source.id}/video`,
    "aria-label": `Clip of ${title}` });
  const list = el("ol", { class: "cues" });
  const message = el("p", { class: "error", role: "alert", hidden: "" });
  const status = el("p", { class: "meta", role: "status" });
  const add = el("button", { type: "button", class: "secondary", text: "Add a cue" });
  const save = el("button", { type: "button", text: "Save captions" });
  let stopAt = null;
  video.addEventListener("timeupdate", () => {
    if (stopAt !== null && video.currentTime >= stopAt) { video.pause(); stopAt = null; }
  });
  const rows = () => [...list.children];

  function show(row, play) {
    for (const other of rows()) other.classList.toggle("editing", other === row);
    const start = Number(row.querySelector('[name="start"]').value) || 0;
    stopAt = play ? Number(row.querySelector('[name="end"]').value) || null : null;
    video.currentTime = start;
    if (play) video.play().catch(() => {});
  }

  function renumber() {
    rows().forEach((row, index) => {
      const n = index + 1;
      row.querySelector('[name="start"]').setAttribute("aria-label", `Start of cue ${n} (seconds)`);
      row.querySelector('[name="end"]').setAttribute("aria-label", `End of cue ${n} (seconds)`);
      row.querySelector('[name="text"]').setAttribute("aria-label", `Text of cue ${n}`);
      row.querySelector(".play").setAttribute("aria-label", `Play cue ${n}`);
      row.querySelector(".remove").setAttribute("aria-label", `Remove cue ${n}`);
    });
  }

  function addRow(cue, after) {
    const time = (name, value) => el("input", { name, type: "number", min: "0", step: "0.01", value: value.toFixed(2) });
    const play = el("button", { type: "button", class: "secondary play", text: "Play" });
    const remove = el("button", { type: "button", class: "link remove", text: "Remove" });
    const text = el("textarea", { name: "text", rows: "2", maxlength: "2000" });
    text.value = cue.text;
    const row = el("li", { class: "cue" }, time("start", cue.start), el("span", { text: "→" }), time("end", cue.end),
      text, play, remove, el("p", { class: "error cue-error", role: "alert", hidden: "" }));
    row.addEventListener("focusin", () => show(row, false));
    play.addEventListener("click", () => show(row, true));
    remove.addEventListener("click", () => { row.remove(); renumber(); });
    if (after) after.after(row); else list.append(row);
    renumber();
    return row;
  }

  function fill(transcript) {
    list.replaceChildren();
    for (const cue of transcript.cues) addRow(cue);
    status.textContent = `${transcript.cues.length} cues, from ${transcript.origin === "edit" ? "an edit"
      : transcript.origin === "platform" ? "the site's subtitles" : transcript.origin === "recognition"
        ? "speech recognition" : "a subtitles file"}. Every brand and format of this clip burns them in.`;
  }

  function showError(text) {
    for (const node of list.querySelectorAll(".cue-error")) showMessage(node, "");
    const named = /^cue (\d+)\b/.exec(text) || /^cues\.(\d+)\./.exec(text);
    const row = named ? rows()[named[0].startsWith("cue ") ? Number(named[1]) - 1 : Number(named[1])] : null;
    if (row) {
      showMessage(row.querySelector(".cue-error"), text);
      row.querySelector('[name="text"]').focus();
      showMessage(message, "Not saved: fix the cue marked below.");
    } else {
      showMessage(message, text);
    }
  }

  add.addEventListener("click", () => {
    const last = rows().at(-1);
    const start = last ? Number(last.querySelector('[name="end"]').value) || 0 : 0;
    const end = source.duration ? Math.min(source.duration, start + 2) : start + 2;
    addRow({ start, end, text: "" }).querySelector('[name="text"]').focus();
  });
  save.addEventListener("click", async () => {
    showMessage(message, "");
    const cues = rows().map((row) => ({
      start: Number(row.querySelector('[name="start"]').value),
      end: Number(row.querySelector('[name="end"]').value),
      text: row.querySelector('[name="text"]').value,
    }));
    save.disabled = true;
    try {
      const { transcript } = await api("PUT", `/api/sources/${source.id}/transcript`, { cues });
      fill(transcript);
      status.textContent = `Saved ${transcript.cues.length} cues: every later render of this clip uses them.`;
    } catch (e) {
      showError(e.message);
    } finally {
      save.disabled = false;
    }
  });

  panel.append(video, el("p", { class: "hint", text: "Each cue: when it shows (seconds from the start) and its "
    + "words, at most two lines of about 32 characters. Click a cue to see the clip there." }),
  list, message, el("div", { class: "actions" }, add, save), status);
  if (source.transcript) {
    api("GET", `/api/sources/${source.id}/transcript`).then(({ transcript }) => fill(transcript))
      .catch((e) => showMessage(message, e.message));
  } else {
    status.textContent = "No captions yet: add cues here, or render with captions to make them.";
  }
  return panel;
}

// The review screen opens the same editor on the job's library item: fixed there, an output rendered
// again (Adjust) or any later job of the clip burns the fix in.
function captionsButton(item, sourceId) {
  const button = el("button", { type: "button", class: "secondary", text: "Edit captions" });
  button.addEventListener("click", async () => {
    const open = item.querySelector(".transcript");
    if (open) return open.remove();
    try {
      item.append(transcriptEditor((await api("GET", `/api/sources/${sourceId}`)).source));
    } catch (e) {
      alert(e.message);
    }
  });
  return button;
}

function setupLibrary() {
  const form = document.getElementById("library-search");
  if (!form) return;
  const failed = (e) => showMessage(document.getElementById("library-message"), e.message);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showMessage(document.getElementById("library-message"), "");
    loadSources(true).catch(failed);
  });
  document.getElementById("more-sources").addEventListener("click", () => loadSources(false).catch(failed));
  loadSources(true).catch(failed);
}

// ---- the source's edits: trim with a scrubber over the file's frames, the crop window dragged on a frame,
// and the follow window's path played over the clip (DESIGN 4.11; POST /api/uploads/<id>/edits).

const CANVASES = JSON.parse(document.getElementById("canvases")?.textContent || "{}");
const source = { file: null, anchor: null, path: null, keptFrom: 0, keptTo: null, frame: 0 };

function parseTrim(text) {
  if (!text.trim()) return null;
  const match = /^\s*(\d+(?:\.\d+)?)?\s*:\s*(\d+(?:\.\d+)?)?\s*$/.exec(text);
  if (!match || (!match[1] && !match[2])) throw new Error("Trim: write START:END in seconds, e.g. 2.5:14 (or 2.5: or :14).");
  return { start: Number(match[1] || 0), end: match[2] ? Number(match[2]) : null };
}

// How the formats that crop are framed: the fit, and for crop and follow the zoom and the window's centre.
function framing(form) {
  const fit = form.fit.value;
  const framed = { fit };
  if (fit !== "blur") {
    const zoom = Number(form.zoom.value);
    if (zoom > 1) framed.zoom = zoom;
    if (source.anchor) framed.anchor = { x: source.anchor.x, y: source.anchor.y };
  }
  return framed;
}

function sourceEdits(form) {
  const edits = framing(form);
  const trim = parseTrim(form.trim.value);
  if (trim) edits.trim = trim;
  if (form.trim_end_card.checked) edits.trim_end_card = true;
  return edits;
}

function editsText(done) {
  const parts = [];
  const { trim, reframe } = done;
  parts.push(`kept ${trim.start.toFixed(2)} to ${trim.end.toFixed(2)} s`);
  if (trim.end_card) parts.push(`end card cut (${trim.end_card.reason})`);
  if (reframe.path) {
    const reasons = [...new Set(reframe.path.keys.map((key) => key.reason.split(":")[0]))];
    parts.push(reframe.path.found ? `window follows: ${reasons.join(", ")}` : "no subject found: still window");
  }
  if (reframe.used !== reframe.fit) parts.push(`used ${reframe.used}`);
  return parts.join(" · ");
}

// The format the editor shows the window of: the first ticked one of a fixed shape (the window is the same
// in every format of that shape; `source` keeps the clip's own shape, so it has none).
function editorPreset(form) {
  return selection(form).formats.find((preset) => CANVASES[preset]) || "source";
}

// The window as a fraction of the picture, for the chosen format and zoom (the largest crop of its shape).
function windowSize(video, form) {
  const canvas = CANVASES[editorPreset(form)];
  if (!canvas || form.fit.value === "blur" || !video.videoWidth) return null;
  const pictureAspect = video.videoWidth / video.videoHeight;
  const canvasAspect = canvas[0] / canvas[1];
  const zoom = Number(form.zoom.value);
  return pictureAspect > canvasAspect
    ? { w: canvasAspect / pictureAspect / zoom, h: 1 / zoom }
    : { w: 1 / zoom, h: pictureAspect / canvasAspect / zoom };
}

function placeWindow(centre) {
  const form = document.getElementById("new-job");
  const video = document.getElementById("source-video");
  const box = document.getElementById("crop-window");
  const size = windowSize(video, form);
  box.hidden = !size;
  if (!size) return;
  const clamp = (value, room) => Math.min(Math.max(value, 0), room);
  const left = clamp(centre.x - size.w / 2, 1 - size.w);
  const top = clamp(centre.y - size.h / 2, 1 - size.h);
  Object.assign(box.style, { left: `${left * video.clientWidth}px`, top: `${top * video.clientHeight}px`,
    width: `${size.w * video.clientWidth}px`, height: `${size.h * video.clientHeight}px` });
}

function restingWindow() {
  placeWindow(source.anchor || { x: 0.5, y: 0.5 });
}

function pathCentre(keys, t) {
  let previous = keys[0];
  for (const key of keys) {
    if (key.t >= t) {
      if (key.t === previous.t) return key;
      const share = (t - previous.t) / (key.t - previous.t);
      return { x: previous.x + (key.x - previous.x) * share, y: previous.y + (key.y - previous.y) * share };
    }
    previous = key;
  }
  return previous;
}

function playPath() {
  const video = document.getElementById("source-video");
  cancelAnimationFrame(source.frame);
  const step = () => {
    if (!source.path) return;
    const t = video.currentTime - source.keptFrom;
    placeWindow(pathCentre(source.path.keys, t));
    if (source.keptTo !== null && video.currentTime >= source.keptTo) video.pause();
    if (!video.paused) source.frame = requestAnimationFrame(step);
  };
  video.currentTime = source.keptFrom;
  video.play().then(() => { source.frame = requestAnimationFrame(step); }).catch(() => {});
}

async function previewWindow() {
  const form = document.getElementById("new-job");
  const notes = document.getElementById("window-notes");
  const button = document.getElementById("preview-window");
  notes.textContent = "Looking at the clip…";
  button.disabled = true;
  try {
    const { fit, ...rest } = sourceEdits(form);
    const data = await api("POST", `/api/uploads/${await uploadOnce(source.file)}/edits`, { preset: editorPreset(form), fit, ...rest });
    const { trim, reframe } = data.edits;
    source.keptFrom = trim.start;
    source.keptTo = trim.end;
    source.path = reframe.path && reframe.path.found ? reframe.path : null;
    const reasons = reframe.path ? reframe.path.keys.map((key) => `${key.t.toFixed(2)} s: ${key.reason}`) : [];
    notes.textContent = `${editsText(data.edits)}${reasons.length ? ` — ${reasons.slice(0, 8).join("; ")}` : ""}`;
    if (source.path) playPath(); else restingWindow();
  } catch (error) {
    notes.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function closeSourceEditor() {
  const video = document.getElementById("source-video");
  if (video.src) URL.revokeObjectURL(video.src);
  video.removeAttribute("src");
  Object.assign(source, { file: null, anchor: null, path: null });
  document.getElementById("source-editor").hidden = true;
}

function setUpSourceEditor() {
  const form = document.getElementById("new-job");
  if (!form || !form.file) return;
  const video = document.getElementById("source-video");
  const scrub = document.getElementById("scrub");
  const box = document.getElementById("crop-window");
  const showTime = () => { document.getElementById("scrub-time").textContent = `${video.currentTime.toFixed(2)} s`; };
  form.file.addEventListener("change", () => {
    closeSourceEditor();
    const file = form.file.files[0];
    if (!file) return;
    source.file = file;
    video.src = URL.createObjectURL(file);
    document.getElementById("source-editor").hidden = false;
  });
  video.addEventListener("loadedmetadata", () => { scrub.max = String(video.duration); restingWindow(); });
  video.addEventListener("timeupdate", () => { if (video.paused) return; scrub.value = String(video.currentTime); showTime(); });
  video.addEventListener("seeked", showTime);
  scrub.addEventListener("input", () => { source.path = null; video.pause(); video.currentTime = Number(scrub.value); restingWindow(); });
  const writeTrim = (start, end) => {
    form.trim.value = `${start ? start.toFixed(2) : ""}:${end !== null ? end.toFixed(2) : ""}`;
  };
  document.getElementById("set-start").addEventListener("click", () => {
    const current = parseTrim(form.trim.value) || { end: null };
    writeTrim(video.currentTime, current.end);
  });
  document.getElementById("set-end").addEventListener("click", () => {
    const current = parseTrim(form.trim.value) || { start: 0 };
    writeTrim(current.start, video.currentTime);
  });
  document.getElementById("keep-all").addEventListener("click", () => { form.trim.value = ""; });
  document.getElementById("preview-window").addEventListener("click", previewWindow);
  for (const input of [...form.querySelectorAll('input[name="formats"]'), form.fit, form.zoom]) {
    input.addEventListener("input", () => {
      document.getElementById("zoom-value").textContent = `${Number(form.zoom.value).toFixed(2)}×`;
      source.path = null;
      restingWindow();
    });
  }
  // Dragging the window sets the anchor: the window's centre as fractions of the picture.
  box.addEventListener("pointerdown", (event) => {
    box.setPointerCapture(event.pointerId);
    source.path = null;
    video.pause();
    const rect = video.getBoundingClientRect();
    const start = { x: event.clientX, y: event.clientY, anchor: source.anchor || { x: 0.5, y: 0.5 } };
    const move = (moved) => {
      const size = windowSize(video, form);
      const clamp = (value, half) => Math.min(Math.max(value, half), 1 - half);
      source.anchor = {
        x: Number(clamp(start.anchor.x + (moved.clientX - start.x) / rect.width, size.w / 2).toFixed(4)),
        y: Number(clamp(start.anchor.y + (moved.clientY - start.y) / rect.height, size.h / 2).toFixed(4)),
      };
      restingWindow();
    };
    box.addEventListener("pointermove", move);
    box.addEventListener("pointerup", () => box.removeEventListener("pointermove", move), { once: true });
  });
}

// ---- brands: the layer editor -------------------------------------------------------------------
// Each form keeps the brand as saved (brand_config.json's shape) and edits it in place: what the form does
// not show is posted back untouched. New images are uploaded (and cleaned) by POST /api/brands/<id>/assets
// and named "asset:<name>" in the layer. Placement (position, width/size, margin) given once applies to every
// shape; dragging a layer on a shape gives that shape its own, and from then on the controls edit the shape
// shown (DESIGN 4.10).

const FACTS = JSON.parse(document.getElementById("editor-facts")?.textContent || '{"shapes": []}');
const SHAPES = FACTS.shapes;
// The sliders' ranges (the config's limits are the server's to check); defaults come from the page.
// Fractions are shown as percentages of what they measure.
const SLIDERS = {
  width: { label: "Width", unit: "% of the frame's width", min: 0.02, max: 1, step: 0.005 },
  margin: { label: "Margin", unit: "% of the frame's width", min: 0, max: 0.2, step: 0.005 },
  opacity: { label: "Opacity", unit: "%", min: 0, max: 1, step: 0.05 },
  scale: { label: "Scale", unit: "% of the frame", min: 0.5, max: 2, step: 0.01 },
  size: { label: "Text size", unit: "% of the frame's height", min: 0.005, max: 0.2, step: 0.0025 },
  key_tolerance: { label: "Key tolerance", unit: "%", min: 0.01, max: 0.5, step: 0.01 },
};
const PLACEMENT = ["position", "width", "size", "margin"];
const SNAP_PX = 12;  // on screen: closer than this to a safe-zone edge or an anchor, a dragged layer snaps
const LAYER_DEFAULTS = JSON.parse(document.getElementById("layer-defaults")?.textContent || "{}");

function brandId(form) {
  const section = form.closest("[data-brand]");
  return section.dataset.brand || (form.id && form.id.value.trim());
}

function labelled(text, control, ...after) {
  return el("label", {}, `${text} `, control, ...after);
}

function percent(fraction) {
  return `${(fraction * 100).toFixed(1).replace(/\.0$/, "")} %`;
}

const isSpot = (value) => value !== null && typeof value === "object" && "x" in value;
const isPerShape = (value) => value !== null && typeof value === "object" && !isSpot(value);

// A setting's value on a shape: the value, or its per-shape value (the nearest shape's when missing).
function atShape(value, shape) {
  if (!isPerShape(value)) return value;
  const nearest = FACTS.nearest[shape].find((s) => value[s] !== undefined && value[s] !== null);
  return value[nearest];
}

function valueOf(layer, key, kind, shape) {
  const value = atShape(layer[key], shape);
  return value ?? LAYER_DEFAULTS[kind][key];
}

// Set a placement setting for one shape; the other shapes keep what they had. One value for all shapes
// is written once.
function setAtShape(layer, key, kind, shape, value) {
  const before = layer[key] ?? LAYER_DEFAULTS[kind][key];
  const perShape = Object.fromEntries(SHAPES.map((s) => [s, atShape(before, s)]));
  perShape[shape] = value;
  const same = SHAPES.every((s) => JSON.stringify(perShape[s]) === JSON.stringify(value));
  layer[key] = same ? value : perShape;
}

// A layer's kind, as the config tells them apart (brand_loader's _layer_kind).
function layerKind(layer) {
  return "captions" in layer ? "captions" : "text" in layer ? "text" : "image";
}

// Where captions can sit: centred across the safe zone, at one of these (CaptionStyle.position).
const CAPTION_SPOTS = [["bottom", "bottom of the safe zone (above the platform's own captions)"], ["center", "middle"], ["top", "top"]];

function sizedBy(layer, kind) {
  return kind === "text" || layer.size !== undefined ? "size" : "width";
}

class LayerEditor {
  constructor(form) {
    this.form = form;
    this.brand = JSON.parse(form.querySelector(".brand-json").textContent);
    this.brand.layers = this.brand.layers || [];
    this.positions = JSON.parse(form.dataset.positions);
    this.sources = new Map();  // layer -> {file, shape, clean} of its last upload: to clean again or undo
    this.container = form.querySelector(".layers");
    this.render();
  }

  get shape() { return this.form.preset.value; }

  changed() { this.form.dispatchEvent(new Event("input", { bubbles: true })); }

  render() {
    this.container.replaceChildren(...this.brand.layers.map((layer, index) => this.fieldset(layer, index)));
    // the engine burns in one captions layer (the first turned on): one is all a brand needs
    const addCaptions = this.form.querySelector('[data-action="add-captions"]');
    if (addCaptions) addCaptions.disabled = this.brand.layers.some((layer) => "captions" in layer);
  }

  add(layer) { this.brand.layers.push(layer); this.render(); this.changed(); }

  fieldset(layer, index) {
    const kind = layerKind(layer);
    const title = kind === "captions" ? "Captions" : kind === "text" ? "text" : layer.fit === "cover" ? "full-frame image" : "image";
    const remove = el("button", { type: "button", class: "danger", text: "Remove layer" });
    remove.addEventListener("click", () => { this.brand.layers.splice(index, 1); this.render(); this.changed(); });
    const controls = kind === "captions" ? this.captionsControls(layer)
      : kind === "text" ? this.textControls(layer) : this.imageControls(layer);
    const parts = [el("legend", { text: `Layer ${index + 1}: ${title}` })];
    if (kind === "image") parts.push(this.cleanup(layer));
    parts.push(el("div", { class: "grid" }, ...controls));
    if (layer.fit !== "cover") {
      parts.push(el("p", { class: "hint readout", "data-layer": String(index) }));
      const every = el("button", { type: "button", class: "secondary", text: "Use this shape's placement on every shape" });
      every.addEventListener("click", () => {
        const placed = kind === "captions" ? layer.captions : layer;  // a captions layer's keys are its style's
        for (const key of PLACEMENT) if (placed[key] !== undefined) placed[key] = atShape(placed[key], this.shape);
        this.render(); this.changed();
      });
      parts.push(every);
    }
    parts.push(remove);
    return el("fieldset", { class: `layer ${kind}`, "data-layer": String(index) }, ...parts);
  }

  slider(layer, key, kind) {
    const spec = SLIDERS[key];
    const placement = PLACEMENT.includes(key);
    const value = placement ? valueOf(layer, key, kind, this.shape) : (layer[key] ?? LAYER_DEFAULTS[kind][key]);
    const shown = el("output", { text: percent(value) });
    const input = el("input", { type: "range", min: spec.min, max: spec.max, step: spec.step, value, name: key });
    input.addEventListener("input", () => {
      const number = Number(input.value);
      // one value for every shape stays one; once a shape has its own, the slider sets the shape shown
      if (placement && isPerShape(layer[key])) setAtShape(layer, key, kind, this.shape, number);
      else layer[key] = number;
      if (key === "width") delete layer.size;  // a logo is sized by one of the two
      shown.textContent = percent(number);
    });
    const where = !placement ? "" : isPerShape(layer[key]) ? ` (${this.shape})` : " (every shape)";
    return labelled(`${spec.label}${where}`, input, shown, el("span", { class: "unit", text: ` ${spec.unit.replace(/^% ?/, "")}` }));
  }

  select(text, options, value, onChange) {
    const input = el("select", {}, ...options.map(([v, t]) => el("option", { value: v, text: t })));
    input.value = value;
    input.addEventListener("input", () => onChange(input.value));
    return labelled(text, input);
  }

  colour(text, value, onChange) {
    const input = el("input", { type: "color", value: value.toLowerCase() });
    input.addEventListener("input", () => onChange(input.value.toUpperCase()));
    return labelled(text, input);
  }

  toggle(text, checked, onChange) {
    const input = el("input", { type: "checkbox" });
    input.checked = checked;
    input.addEventListener("input", () => { onChange(input.checked); this.render(); });
    return el("label", { class: "check" }, input, ` ${text}`);
  }

  position(layer, kind) {
    const value = valueOf(layer, "position", kind, this.shape);
    const options = this.positions.map((p) => [p, p]);
    if (isSpot(value)) options.push(["spot", `where you dragged it (${percent(value.x)} across, ${percent(value.y)} down)`]);
    const perShape = isPerShape(layer.position);
    return this.select(`Position (${perShape ? this.shape : "every shape"})`, options, isSpot(value) ? "spot" : value, (chosen) => {
      if (chosen === "spot") return;
      if (perShape) setAtShape(layer, "position", kind, this.shape, chosen); else layer.position = chosen;
      this.render();
    });
  }

  // `target`: the shape the image is for ("any": every shape); options: {clean, cut} for the server.
  async upload(layer, target, file, options) {
    const id = brandId(this.form);
    if (!id) throw new Error("Give the brand an id first.");
    const body = new FormData();
    body.append("file", file);
    body.append("shape", options.cut);
    body.append("clean", options.clean ? "true" : "false");
    const { asset } = await api("POST", `/api/brands/${encodeURIComponent(id)}/assets`, body);
    const mark = `asset:${asset.name}`;
    if (target === "any") layer.image = mark;
    else {
      // one image for every shape until now: it stays the image of the shapes not given their own
      const shapes = typeof layer.image === "string" && layer.image
        ? Object.fromEntries(SHAPES.map((s) => [s, layer.image])) : { ...(layer.image || {}) };
      layer.image = { ...shapes, [target]: mark };
    }
    this.sources.set(layer, { file, target, clean: options.clean, cut: options.cut, asset });
    this.render();
    this.changed();
  }

  imageFile(layer, shape) {
    const current = typeof layer.image === "string" ? (shape === "any" ? layer.image : "") : (layer.image[shape] || "");
    const input = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/svg+xml" });
    const problem = el("span", { class: "error" });  // an alert once it has something to say
    input.addEventListener("change", async () => {
      const file = input.files[0];
      if (!file) return;
      problem.textContent = "";
      problem.removeAttribute("role");
      // a full-frame image is framed as drawn: it is kept as sent (checked, stored as PNG), not trimmed
      const clean = layer.fit !== "cover";
      try { await this.upload(layer, shape, file, { clean, cut: "original" }); }
      catch (e) { problem.setAttribute("role", "alert"); problem.textContent = e.message; input.value = ""; }
    });
    const label = shape === "any" ? "Image (every shape)" : `Image for ${shape} outputs`;
    const name = current.startsWith("asset:") ? "new image" : current.split("/").pop();
    return labelled(label, input, el("span", { class: "hint", text: name ? ` now: ${name}` : "" }), problem);
  }

  // Before and after the clean-up of the layer's last upload, with undo (keep it as sent) and a shape.
  cleanup(layer) {
    const source = this.sources.get(layer);
    if (!source) return el("div", { class: "cleanup", hidden: "" });
    const before = el("img", { alt: "As uploaded", src: URL.createObjectURL(source.file) });
    const after = el("img", { alt: source.clean ? "Cleaned" : "As uploaded, kept", src: source.asset.url });
    const changes = source.clean ? (source.asset.changes.join("; ") || "nothing needed cleaning") : "kept as sent";
    const again = (options) => async () => {
      try { await this.upload(layer, source.target, source.file, { clean: source.clean, cut: source.cut, ...options }); }
      catch (e) { showMessage(this.form.querySelector(":scope > p.error"), e.message); }
    };
    const undo = el("button", { type: "button", class: "secondary", text: source.clean ? "Undo clean-up" : "Clean it up" });
    undo.addEventListener("click", again({ clean: !source.clean }));
    const shape = this.select("Cut to", FACTS.asset_shapes.map((s) => [s, s === "original" ? "as uploaded" : s]),
      source.cut, (value) => again({ cut: value, clean: true })());
    return el("div", { class: "cleanup" },
      el("figure", {}, before, el("figcaption", { text: `Before (${source.asset.original.width}×${source.asset.original.height} ${source.asset.original.format})` })),
      el("figure", {}, after, el("figcaption", { text: `After (${source.asset.width}×${source.asset.height} PNG): ${changes}` })),
      el("div", {}, undo, source.clean ? shape : ""));
  }

  imageControls(layer) {
    const controls = [
      this.select("Fit", [["", "placed (inside the safe zone)"], ["cover", "full frame (covers the picture)"]],
        layer.fit || "", (value) => {
          if (value) { layer.fit = value; for (const k of PLACEMENT) delete layer[k]; }
          else { delete layer.fit; delete layer.scale; }
          this.render();
        }),
      ...["any", ...SHAPES].map((shape) => this.imageFile(layer, shape)),
    ];
    if (layer.fit === "cover") controls.push(this.slider(layer, "scale", "image"));
    else {
      controls.push(this.position(layer, "image"), this.slider(layer, sizedBy(layer, "image"), "image"));
      if (!isSpot(valueOf(layer, "position", "image", this.shape))) controls.push(this.slider(layer, "margin", "image"));
    }
    controls.push(this.slider(layer, "opacity", "image"));
    controls.push(this.toggle("Key out a colour", Boolean(layer.key_color), (on) => {
      if (on) layer.key_color = "#000000"; else { delete layer.key_color; delete layer.key_tolerance; }
    }));
    if (layer.key_color) {
      controls.push(this.colour("Key colour", layer.key_color, (value) => { layer.key_color = value; }),
        this.slider(layer, "key_tolerance", "image"));
    }
    return controls;
  }

  textControls(layer) {
    const text = el("input", { value: layer.text, name: "text" });
    text.addEventListener("input", () => { layer.text = text.value; });
    const controls = [labelled("Text", text), this.position(layer, "text"), this.slider(layer, "size", "text"),
      this.colour("Text colour", layer.color ?? LAYER_DEFAULTS.text.color, (value) => { layer.color = value; }),
      this.slider(layer, "opacity", "text")];
    if (!isSpot(valueOf(layer, "position", "text", this.shape))) controls.push(this.slider(layer, "margin", "text"));
    controls.push(this.toggle("Box behind the text", Boolean(layer.box), (on) => {
      if (on) layer.box = { ...LAYER_DEFAULTS.box }; else delete layer.box;
    }));
    if (layer.box) controls.push(...this.boxControls(layer.box));
    return controls;
  }

  boxControls(box) {
    const opacity = el("input", { type: "range", min: 0, max: 1, step: 0.05, value: box.opacity ?? LAYER_DEFAULTS.box.opacity });
    const shown = el("output", { text: opacity.value });
    opacity.addEventListener("input", () => { box.opacity = Number(opacity.value); shown.textContent = opacity.value; });
    return [this.colour("Box colour", box.color ?? LAYER_DEFAULTS.box.color, (value) => { box.color = value; }),
      labelled("Box opacity", opacity, shown)];
  }

  // A captions layer's settings live in its style ({"captions": {...}}); keys not shown here (lines,
  // characters per line, outline width) stay as they are.
  captionsControls(layer) {
    const style = layer.captions;
    const defaults = LAYER_DEFAULTS.captions;
    const shape = this.shape;
    const perShape = isPerShape(style.position);
    const where = this.select(`Position (${perShape ? shape : "every shape"})`, CAPTION_SPOTS,
      valueOf(style, "position", "captions", shape), (chosen) => {
        if (perShape) setAtShape(style, "position", "captions", shape, chosen); else style.position = chosen;
        this.render();
      });
    const highlight = style.highlight === undefined ? defaults.highlight : style.highlight;
    const behind = style.box ? "box" : (style.outline === undefined ? defaults.outline : style.outline) ? "outline" : "none";
    const controls = [
      this.toggle("Burn in captions", layer.enabled !== false, (on) => { if (on) delete layer.enabled; else layer.enabled = false; }),
      where, this.slider(style, "size", "captions"),
      this.colour("Text colour", style.color ?? defaults.color, (value) => { style.color = value; }),
      this.toggle("Highlight the word being spoken", highlight !== null, (on) => {
        style.highlight = on ? defaults.highlight : null;
      }),
    ];
    if (highlight !== null) {
      controls.push(this.colour("Highlight colour", highlight, (value) => { style.highlight = value; }));
    }
    controls.push(this.select("Behind the letters", [["outline", "an outline"], ["box", "a box"], ["none", "nothing"]], behind, (chosen) => {
      if (chosen === "box") style.box = { ...LAYER_DEFAULTS.box }; else delete style.box;
      if (chosen === "outline" && !style.outline) style.outline = defaults.outline;
      if (chosen === "none") style.outline = null;
      this.render();
    }));
    if (behind === "outline") controls.push(this.colour("Outline colour", style.outline ?? defaults.outline, (value) => { style.outline = value; }));
    if (behind === "box") controls.push(...this.boxControls(style.box));
    controls.push(this.slider(style, "margin", "captions"));
    return controls;
  }

  // An image layer still waiting for its image is not drawn in a preview (and cannot be saved).
  missingImage() {
    return this.brand.layers.findIndex((layer) => "image" in layer && !layer.image);
  }

  brandJson(forPreview) {
    let layers = this.brand.layers;
    if (forPreview) layers = layers.map((layer) => ("image" in layer && !layer.image ? { text: "-", enabled: false } : layer));
    // the glossary: one entry a line, or several on a line separated by commas (the server checks each)
    const glossary = [...new Set(this.form.glossary.value.split(/[\n,]/).map((entry) => entry.trim()).filter(Boolean))];
    return { ...this.brand, layers, glossary, name: this.form.name.value.trim() || brandId(this.form) || "new", safe_zone: this.form.safe_zone.value };
  }

  payload(forPreview = false) {
    const body = new FormData();
    body.append("brand", JSON.stringify(this.brandJson(forPreview)));
    body.append("preset", this.shape);
    body.append("frame", document.getElementById("preview-frame")?.value || "");
    return body;
  }
}

// ---- brands: placing layers by dragging on the engine's own still --------------------------------

class PlacementStage {
  constructor(form, editor) {
    this.form = form;
    this.editor = editor;
    this.figure = form.querySelector(".live-preview");
    this.image = this.figure.querySelector("img");
    this.shade = this.figure.querySelector(".zone-shade");
    this.boxes = this.figure.querySelector(".boxes");
    this.layout = null;
  }

  // The still and the plan's rectangles, as the preview answered them.
  show(blob, layout) {
    if (this.image.src.startsWith("blob:")) URL.revokeObjectURL(this.image.src);
    this.image.src = URL.createObjectURL(blob);
    this.layout = layout;
    this.figure.hidden = false;
    const { width: W, height: H, zone } = layout;
    this.shade.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.shade.setAttribute("preserveAspectRatio", "none");
    const rect = (x, y, w, h) => { const r = document.createElementNS("http://www.w3.org/2000/svg", "rect"); for (const [k, v] of Object.entries({ x, y, width: w, height: h })) r.setAttribute(k, v); return r; };
    const [top, bottom, left, right] = [zone.top * H, zone.bottom * H, zone.left * W, zone.right * W];
    this.shade.replaceChildren(rect(0, 0, W, top), rect(0, H - bottom, W, bottom),
      rect(0, top, left, H - top - bottom), rect(W - right, top, right, H - top - bottom));
    this.boxes.replaceChildren(...layout.layers
      .filter((placed) => this.editor.brand.layers[placed.index]?.fit !== "cover")
      .map((placed) => this.box(placed)));
    this.readouts();
  }

  box(placed) {
    if (placed.captions) return this.captionsBox(placed);
    const node = el("div", { class: "layer-box", "data-layer": String(placed.index), tabindex: "0",
      "aria-label": `Layer ${placed.index + 1}: drag to move, pull the corner to resize` });
    const handle = el("div", { class: "resize", "aria-hidden": "true" });
    node.append(handle);
    this.place(node, placed);
    node.addEventListener("pointerdown", (event) => this.drag(event, node, placed, event.target === handle));
    return node;
  }

  // Where the captions can show (the engine's band for them); dragged up or down, they go to the nearest of
  // the bottom, middle or top of the safe zone on the shape shown.
  captionsBox(placed) {
    const node = el("div", { class: "layer-box captions-box", "data-layer": String(placed.index), tabindex: "0",
      "aria-label": `Layer ${placed.index + 1}: captions show here; drag up or down to move them` });
    this.place(node, placed);
    node.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      node.setPointerCapture(event.pointerId);
      const scale = this.layout.height / this.image.getBoundingClientRect().height;
      const startY = event.clientY;
      let y = placed.y;
      const move = (e) => { y = placed.y + (e.clientY - startY) * scale; this.place(node, { ...placed, y }); };
      const end = () => {
        node.removeEventListener("pointermove", move);
        node.removeEventListener("pointerup", end);
        node.removeEventListener("pointercancel", end);
        const safe = this.safeBox();
        // the band's centre at each spot: at the top or bottom it touches that edge of the safe zone
        const centre = y + placed.height / 2;
        const half = placed.height / 2;
        const spots = { top: safe.top + half, center: (safe.top + safe.bottom) / 2, bottom: safe.bottom - half };
        const [nearest] = Object.entries(spots).sort(([, a], [, b]) => Math.abs(a - centre) - Math.abs(b - centre))[0];
        setAtShape(this.editor.brand.layers[placed.index].captions, "position", "captions", this.editor.shape, nearest);
        this.editor.render();
        this.editor.changed();
      };
      node.addEventListener("pointermove", move);
      node.addEventListener("pointerup", end);
      node.addEventListener("pointercancel", end);
    });
    return node;
  }

  place(node, r) {
    const { width: W, height: H } = this.layout;
    Object.assign(node.style, { left: `${(r.x / W) * 100}%`, top: `${(r.y / H) * 100}%`, width: `${(r.width / W) * 100}%`, height: `${(r.height / H) * 100}%` });
    Object.assign(node.dataset, { x: r.x, y: r.y, w: r.width, h: r.height });
  }

  safeBox() {
    const { width: W, height: H, zone } = this.layout;
    return { left: zone.left * W, right: W - zone.right * W, top: zone.top * H, bottom: H - zone.bottom * H };
  }

  // Where a rectangle of this size would sit at each of the nine anchors (as the engine places them).
  anchors(w, h, margin) {
    const { width: W } = this.layout;
    const safe = this.safeBox();
    const gap = margin * W;
    const [l, r, t, b] = [safe.left + gap, safe.right - gap, safe.top + gap, safe.bottom - gap];
    const spots = {};
    for (const name of this.editor.positions) {
      if (name === "auto") continue;
      const hx = name.endsWith("left") ? 0 : name.endsWith("right") ? 1 : 0.5;
      const vy = name.startsWith("top") ? 0 : name.startsWith("bottom") ? 1 : 0.5;
      spots[name] = { x: l + (r - l - w) * hx, y: t + (b - t - h) * vy };
    }
    return spots;
  }

  drag(event, node, placed, resizing) {
    event.preventDefault();
    node.setPointerCapture(event.pointerId);
    const scale = this.layout.width / this.image.getBoundingClientRect().width;  // frame px per screen px
    const snap = SNAP_PX * scale;
    const start = { px: event.clientX, py: event.clientY, x: placed.x, y: placed.y, w: placed.width, h: placed.height };
    const layer = this.editor.brand.layers[placed.index];
    const kind = layerKind(layer);
    const margin = valueOf(layer, "margin", kind, this.editor.shape);
    const safe = this.safeBox();
    let current = { ...placed };
    let anchored = null;
    const move = (e) => {
      const dx = (e.clientX - start.px) * scale;
      const dy = (e.clientY - start.py) * scale;
      let { x, y, w, h } = start;
      if (resizing) {
        w = Math.max(8, Math.min(start.w + dx, safe.right - x));
        h = (w * start.h) / start.w;
      } else { x += dx; y += dy; }
      anchored = null;
      if (!resizing) {
        const hit = Object.entries(this.anchors(w, h, margin)).find(([, a]) => Math.abs(a.x - x) < snap && Math.abs(a.y - y) < snap);
        if (hit) { anchored = hit[0]; ({ x, y } = hit[1]); }
        else {
          // the safe zone's edges and its middle lines
          for (const [edge, at] of [[safe.left, x], [safe.right - w, x], [(safe.left + safe.right - w) / 2, x]]) if (Math.abs(edge - at) < snap) x = edge;
          for (const [edge, at] of [[safe.top, y], [safe.bottom - h, y], [(safe.top + safe.bottom - h) / 2, y]]) if (Math.abs(edge - at) < snap) y = edge;
          x = Math.min(Math.max(x, safe.left), safe.right - w);
          y = Math.min(Math.max(y, safe.top), safe.bottom - h);
        }
      }
      current = { index: placed.index, x, y, width: w, height: h };
      node.classList.toggle("snapped", Boolean(anchored));
      this.place(node, current);
    };
    const end = () => {
      node.removeEventListener("pointermove", move);
      node.removeEventListener("pointerup", end);
      node.removeEventListener("pointercancel", end);
      this.commit(layer, kind, current, anchored, resizing);
    };
    node.addEventListener("pointermove", move);
    node.addEventListener("pointerup", end);
    node.addEventListener("pointercancel", end);
  }

  // The dragged rectangle into the layer's settings for the shape shown: an anchor's name when it snapped
  // to one, else a free spot (its centre); a resize sets the width (or the text's height).
  commit(layer, kind, r, anchored, resized) {
    const { width: W, height: H } = this.layout;
    const shape = this.editor.shape;
    const round = (v) => Math.round(v * 10000) / 10000;
    if (resized) {
      const by = sizedBy(layer, kind);
      const boxed = kind === "text" && layer.box ? 1 + 2 * FACTS.text_box_padding : 1;
      setAtShape(layer, by, kind, shape, by === "width" ? round(r.width / W) : round(r.height / H / boxed));
    }
    const position = valueOf(layer, "position", kind, shape);
    if (anchored) setAtShape(layer, "position", kind, shape, anchored);
    else if (!resized || isSpot(position)) {
      setAtShape(layer, "position", kind, shape, { x: round((r.x + r.width / 2) / W), y: round((r.y + r.height / 2) / H) });
    }
    this.editor.render();
    this.editor.changed();
  }

  // Each layer's placement on this shape, in words with units.
  readouts() {
    const { width: W, height: H } = this.layout;
    for (const placed of this.layout.layers) {
      const node = this.form.querySelector(`.readout[data-layer="${placed.index}"]`);
      if (!node) continue;
      node.textContent = `On ${this.editor.shape}: centre at ${percent((placed.x + placed.width / 2) / W)} of the width, `
        + `${percent((placed.y + placed.height / 2) / H)} of the height; ${percent(placed.width / W)} of the width wide, `
        + `${percent(placed.height / H)} of the height tall (${placed.width}×${placed.height} px of ${W}×${H}).`;
    }
  }
}

async function postBrand(path, body) {
  const response = await fetch(path, { method: "POST", body, headers: { "X-CSRF-Token": csrf } });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new Error(data && data.error ? data.error.message : `The server answered ${response.status}.`);
  }
  return response;
}

function setupBrandForm(form) {
  const editor = new LayerEditor(form);
  const stage = new PlacementStage(form, editor);
  const error = form.querySelector(":scope > p.error");
  let latest = 0;  // previews can finish out of order: only the newest request's picture is shown
  let shownBy = null;  // a preview clears its own message, never a save's
  const say = (text, by) => { shownBy = text ? by : null; showMessage(error, text); };
  const preview = async () => {
    if (shownBy === "preview") say("");
    const id = brandId(form);
    if (!id) return say("Give the brand an id first.", "preview");
    const request = ++latest;
    try {
      const response = await postBrand(`/brands/${encodeURIComponent(id)}/preview`, editor.payload(true));
      if (request !== latest) return;
      stage.show(await response.blob(), JSON.parse(response.headers.get("X-Brand-Layout")));
    } catch (e) { if (request === latest) say(e.message, "preview"); }
  };
  form.previewNow = preview;
  // the browser's own words for a pattern are "Please match the requested format": say what is allowed
  const idInput = form.querySelector('input[name="id"][pattern]');
  if (idInput) idInput.addEventListener("input", () => idInput.setCustomValidity(idInput.validity.patternMismatch ? idInput.title : ""));
  let timer = null;
  // the engine's still follows each change: a short pause lets a slider's run of events become one
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 150); });
  form.preset.addEventListener("input", () => editor.render());  // the placement shown is the shape's
  form.querySelector('[data-action="preview"]').addEventListener("click", preview);
  form.querySelector('[data-action="add-image"]').addEventListener("click", () => editor.add({ image: "" }));
  form.querySelector('[data-action="add-text"]').addEventListener("click", () => editor.add({ text: "@handle" }));
  form.querySelector('[data-action="add-captions"]').addEventListener("click", () => editor.add({ captions: {} }));
  if (form.id) {  // a new brand: its handle follows the id until it is edited
    let handle = editor.brand.layers.find((layer) => "text" in layer);
    let auto = handle ? handle.text : null;
    form.id.addEventListener("input", () => {
      if (handle && handle.text === auto) { handle.text = auto = `@${form.id.value.trim()}`; editor.render(); }
    });
  }
  const details = form.closest("details");
  if (details) details.addEventListener("toggle", () => { if (details.open && !stage.layout) preview(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say("");
    const id = brandId(form);
    const missing = editor.missingImage();
    if (missing >= 0) return say(`Layer ${missing + 1} has no image yet: choose your logo, or remove the layer.`, "save");
    try {
      await postBrand(`/brands/${encodeURIComponent(id)}`, editor.payload());
      window.location.reload();
    } catch (e) { say(e.message, "save"); }
  });
  const remove = form.querySelector('[data-action="delete"]');
  if (remove) remove.addEventListener("click", async () => {
    if (!confirm("Remove this brand?")) return;
    try {
      await api("POST", `/brands/${encodeURIComponent(brandId(form))}/delete`);
      window.location.reload();
    } catch (e) { showMessage(error, e.message); }
  });
}

function setupPreviewClip() {
  const input = document.getElementById("preview-clip");
  if (!input) return;
  const select = document.getElementById("preview-frame");
  select.addEventListener("input", () => {
    document.querySelectorAll(".brand-form").forEach((form) => { if (!form.querySelector(".live-preview").hidden) form.previewNow(); });
  });
  input.addEventListener("change", async () => {
    const body = new FormData();
    body.append("file", input.files[0]);
    try {
      const data = await api("POST", "/api/uploads", body);
      select.append(el("option", { value: `upload:${data.upload.id}`, text: `upload: ${data.upload.filename}` }));
      select.value = `upload:${data.upload.id}`;
      select.dispatchEvent(new Event("input"));
      showMessage(document.getElementById("preview-clip-error"), "");
    } catch (e) { showMessage(document.getElementById("preview-clip-error"), e.message); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const jobForm = document.getElementById("new-job");
  if (jobForm) {
    jobForm.addEventListener("submit", submitJob);
    jobForm.captions.addEventListener("change", () => {
      jobForm.captions_file.hidden = jobForm.captions.value !== "file";
    });
    setUpSourceEditor();
    jobForm.addEventListener("change", () => { showPlan(jobForm); showStills(jobForm); });
    jobForm.urls.addEventListener("input", () => { showPlan(jobForm); showStills(jobForm); });
    document.getElementById("fetch-links").addEventListener("click", () => fetchLinks(jobForm));
    document.getElementById("crop-window").addEventListener("pointerup", () => showStills(jobForm));
    showPlan(jobForm);
    showStills(jobForm);
    const listFailed = (e) => { if (!e.outage) showMessage(document.getElementById("form-message"), e.message); };
    document.getElementById("status-filter").addEventListener("change", () => loadJobs(true).catch(listFailed));
    document.getElementById("more").addEventListener("click", () => loadJobs(false).catch(listFailed));
    loadJobs(true).catch(listFailed);
    document.getElementById("cookies-form").addEventListener("submit", uploadCookies);
    const cookiesFailed = (e) => { if (!e.outage) showMessage(document.getElementById("cookies-message"), e.message); };
    loadCookies().catch(cookiesFailed);
    loadSites().catch(cookiesFailed);
    setInterval(() => loadSites().catch(() => {}), 15000);  // a site pauses and recovers while the page is open
  }
  document.querySelectorAll(".brand-form").forEach(setupBrandForm);
  setupPreviewClip();
  setupLibrary();
});
