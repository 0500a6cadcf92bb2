// The dashboard's behaviour: submit jobs, follow them live, show results, edit brands.
// Calls the same /api as scripts, authenticated by the session cookie plus the CSRF token.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
// Job statuses as the server names them (portal.jobs.state.JobStatus), from base.html.
const JOB_STATES = JSON.parse(document.getElementById("job-states").textContent);
const STATUS = JOB_STATES.statuses;
const TERMINAL = JOB_STATES.finished;

async function api(method, path, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `The server answered ${response.status}.`;
    throw new Error(message);
  }
  return data;
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
  item.replaceWith(fresh);
  renderJobInto(fresh, job);
  if (adjuster && job.status === STATUS.COMPLETED) fresh.append(adjuster);
  if (job.batch_id) updateBatch(job.batch_id);
}

function renderJobInto(item, job) {
  const title = job.source.title || job.source.name;
  item.append(el("div", { class: "job-head" },
    el("strong", { text: title }),
    el("span", { class: "status", text: job.stage && !TERMINAL.includes(job.status) ? `${job.status} · ${job.stage}` : job.status })));
  item.append(el("div", { class: "meta", text: `${job.kind === "fetch" ? "download only" : job.brands.join(", ")} · ${formatNames(job)}` }));
  if (!TERMINAL.includes(job.status)) {
    const bar = el("div", { class: "progress", role: "progressbar", "aria-label": `Progress of ${title}`,
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(job.progress)) });
    bar.append(el("span", { style: `width:${job.progress}%` }));
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
  }
  renderWebhooks(item, job);
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
      reviewControls(item, job, output)));
  const again = output.rerender;
  if (again && again.status === "failed") {
    card.append(el("p", { class: "error", role: "alert", text: `Rendering again failed: ${again.error}` }));
  } else if (again) {
    const bar = el("div", { class: "progress", role: "progressbar", "aria-label": `Rendering ${label} again`,
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(again.progress)) });
    bar.append(el("span", { style: `width:${again.progress}%` }));
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
  // On a network error the browser reconnects by itself; a stream that ended was closed by unfollow.
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

async function loadJobs(reset) {
  const status = document.getElementById("status-filter").value;
  const params = new URLSearchParams({ limit: "10" });
  if (status) params.set("status", status);
  if (!reset && nextCursor) params.set("cursor", nextCursor);
  const data = await api("GET", `/api/jobs?${params}`);
  const list = document.getElementById("jobs");
  if (reset) list.replaceChildren();
  for (const job of data.jobs) {
    if (!document.getElementById(`job-${job.id}`)) slotFor(job, true);  // the page's order; renderJob fills it
    renderJob(job);
  }
  nextCursor = data.next;
  document.getElementById("more").hidden = !nextCursor;
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
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const uploadIds = [];
    for (const file of files) {
      const body = new FormData();
      body.append("file", file);
      uploadIds.push((await api("POST", "/api/uploads", body)).upload.id);
    }
    // every source in one submission: several make one batch
    const request = { brands, formats, fit };
    if (urls.length) request.urls = urls;
    if (uploadIds.length) request.upload_ids = uploadIds;
    const data = await api("POST", "/api/videos/process", request);
    for (const job of data.jobs || [data.job]) renderJob(job);
    form.urls.value = "";
    form.file.value = "";
    showPlan(form);
  } catch (error) {
    showMessage(message, error.message);
  } finally {
    button.disabled = false;
  }
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
      const request = { brands, formats, fit, files: files.map((file) => file.name) };
      if (urls.length) request.urls = urls;
      const { plan } = await api("POST", "/api/plans", request);
      line.textContent = `${plural(plan.sources, "source")} x ${plural(plan.brands, "brand")} x ` +
        `${plural(plan.formats, "format")} = ${plural(plan.count, "output")}`;
    } catch (error) {
      line.textContent = error.message;
    }
  }, 150);
}

// ---- brands: the layer editor -------------------------------------------------------------------
// Each form keeps the brand as saved (brand_config.json's shape) and edits it in place: what the form does
// not show is posted back untouched. New images are sent as files named by "upload:<field>" markers.

const SHAPES = ["vertical", "square", "landscape"];
// The sliders' ranges (the config's limits are the server's to check); defaults come from the page.
const SLIDERS = {
  width: { label: "Width", min: 0.02, max: 1, step: 0.01 },
  margin: { label: "Margin", min: 0, max: 0.2, step: 0.005 },
  opacity: { label: "Opacity", min: 0, max: 1, step: 0.05 },
  scale: { label: "Scale", min: 0.5, max: 2, step: 0.01 },
  size: { label: "Text size", min: 0.01, max: 0.2, step: 0.0025 },
  key_tolerance: { label: "Key tolerance", min: 0.01, max: 0.5, step: 0.01 },
};
const LAYER_DEFAULTS = JSON.parse(document.getElementById("layer-defaults")?.textContent || "{}");

function brandId(form) {
  const section = form.closest("[data-brand]");
  return section.dataset.brand || (form.id && form.id.value.trim());
}

function labelled(text, control, ...after) {
  return el("label", {}, `${text} `, control, ...after);
}

function valueOf(layer, key, kind) {
  return layer[key] ?? LAYER_DEFAULTS[kind][key];
}

class LayerEditor {
  constructor(form) {
    this.form = form;
    this.brand = JSON.parse(form.querySelector(".brand-json").textContent);
    this.brand.layers = this.brand.layers || [];
    this.positions = JSON.parse(form.dataset.positions);
    this.files = new Map();
    this.uploads = 0;
    this.container = form.querySelector(".layers");
    this.render();
  }

  changed() { this.form.dispatchEvent(new Event("input", { bubbles: true })); }

  render() {
    this.container.replaceChildren(...this.brand.layers.map((layer, index) => this.fieldset(layer, index)));
  }

  add(layer) { this.brand.layers.push(layer); this.render(); this.changed(); }

  fieldset(layer, index) {
    const kind = "text" in layer ? "text" : "image";
    const title = kind === "text" ? "text" : layer.fit === "cover" ? "full-frame image" : "image";
    const remove = el("button", { type: "button", class: "danger", text: "Remove layer" });
    remove.addEventListener("click", () => { this.brand.layers.splice(index, 1); this.render(); this.changed(); });
    const controls = kind === "text" ? this.textControls(layer) : this.imageControls(layer);
    return el("fieldset", { class: "layer" }, el("legend", { text: `Layer ${index + 1}: ${title}` }),
      el("div", { class: "grid" }, ...controls), remove);
  }

  slider(layer, key, kind) {
    const spec = SLIDERS[key];
    const value = valueOf(layer, key, kind);
    const shown = el("output", { text: String(value) });
    const input = el("input", { type: "range", min: spec.min, max: spec.max, step: spec.step, value, name: key });
    input.addEventListener("input", () => {
      layer[key] = Number(input.value);
      if (key === "width") delete layer.size;  // a logo is sized by one of the two
      shown.textContent = input.value;
    });
    return labelled(spec.label, input, shown);
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
    return this.select("Position", this.positions.map((p) => [p, p]), valueOf(layer, "position", kind),
      (value) => { layer.position = value; });
  }

  imageFile(layer, shape) {
    const current = typeof layer.image === "string" ? (shape === "any" ? layer.image : "") : (layer.image[shape] || "");
    const input = el("input", { type: "file", accept: "image/png,image/jpeg,image/webp" });
    input.addEventListener("change", () => {
      const file = input.files[0];
      if (!file) return;
      const field = `image-${++this.uploads}`;
      this.files.set(field, file);
      const mark = `upload:${field}`;
      if (shape === "any") layer.image = mark;
      else {
        // one image for every shape until now: it stays the image of the shapes not given their own
        const shapes = typeof layer.image === "string" && layer.image
          ? Object.fromEntries(SHAPES.map((s) => [s, layer.image])) : { ...(layer.image || {}) };
        layer.image = { ...shapes, [shape]: mark };
      }
    });
    const label = shape === "any" ? "Image (every shape)" : `Image for ${shape} outputs`;
    const name = current.startsWith("upload:") ? "new file" : current.split("/").pop();
    return labelled(label, input, el("span", { class: "hint", text: name ? ` now: ${name}` : "" }));
  }

  imageControls(layer) {
    const controls = [
      this.select("Fit", [["", "placed (inside the safe zone)"], ["cover", "full frame (covers the picture)"]],
        layer.fit || "", (value) => {
          if (value) { layer.fit = value; for (const k of ["position", "width", "size", "margin"]) delete layer[k]; }
          else { delete layer.fit; delete layer.scale; }
          this.render();
        }),
      ...["any", ...SHAPES].map((shape) => this.imageFile(layer, shape)),
    ];
    if (layer.fit === "cover") controls.push(this.slider(layer, "scale", "image"));
    else controls.push(this.position(layer, "image"), this.slider(layer, "width", "image"), this.slider(layer, "margin", "image"));
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
      this.colour("Text colour", valueOf(layer, "color", "text"), (value) => { layer.color = value; }),
      this.slider(layer, "opacity", "text"), this.slider(layer, "margin", "text"),
      this.toggle("Box behind the text", Boolean(layer.box), (on) => {
        if (on) layer.box = { ...LAYER_DEFAULTS.box }; else delete layer.box;
      })];
    if (layer.box) {
      const box = layer.box;
      const opacity = el("input", { type: "range", min: 0, max: 1, step: 0.05, value: box.opacity ?? LAYER_DEFAULTS.box.opacity });
      const shown = el("output", { text: opacity.value });
      opacity.addEventListener("input", () => { box.opacity = Number(opacity.value); shown.textContent = opacity.value; });
      controls.push(this.colour("Box colour", box.color ?? LAYER_DEFAULTS.box.color, (value) => { box.color = value; }),
        labelled("Box opacity", opacity, shown));
    }
    return controls;
  }

  payload() {
    const body = new FormData();
    const brand = { ...this.brand, name: this.form.name.value.trim(), safe_zone: this.form.safe_zone.value };
    body.append("brand", JSON.stringify(brand));
    for (const [field, file] of this.files) body.append(field, file);
    body.append("preset", this.form.preset.value);
    body.append("frame", document.getElementById("preview-frame")?.value || "");
    return body;
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
  const error = form.querySelector(".error");
  const figure = form.querySelector(".live-preview");
  let latest = 0;  // previews can finish out of order: only the newest request's picture is shown
  const preview = async () => {
    showMessage(error, "");
    const id = brandId(form);
    if (!id) return showMessage(error, "Give the brand an id first.");
    const request = ++latest;
    try {
      const response = await postBrand(`/brands/${encodeURIComponent(id)}/preview`, editor.payload());
      if (request !== latest) return;
      const image = figure.querySelector("img");
      if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
      image.src = URL.createObjectURL(await response.blob());
      figure.hidden = false;
    } catch (e) { showMessage(error, e.message); }
  };
  form.previewNow = preview;
  let timer = null;
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 600); });
  form.querySelector('[data-action="preview"]').addEventListener("click", preview);
  form.querySelector('[data-action="add-image"]').addEventListener("click", () => editor.add({ image: "" }));
  form.querySelector('[data-action="add-text"]').addEventListener("click", () => editor.add({ text: "@handle" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showMessage(error, "");
    const id = brandId(form);
    try {
      await postBrand(`/brands/${encodeURIComponent(id)}`, editor.payload());
      window.location.reload();
    } catch (e) { showMessage(error, e.message); }
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
    jobForm.addEventListener("change", () => showPlan(jobForm));
    jobForm.urls.addEventListener("input", () => showPlan(jobForm));
    showPlan(jobForm);
    document.getElementById("status-filter").addEventListener("change", () => loadJobs(true));
    document.getElementById("more").addEventListener("click", () => loadJobs(false));
    loadJobs(true).catch((e) => showMessage(document.getElementById("form-message"), e.message));
  }
  document.querySelectorAll(".brand-form").forEach(setupBrandForm);
  setupPreviewClip();
});
