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
  item.replaceWith(fresh);
  renderJobInto(fresh, job);
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
  if (job.status === STATUS.FAILED && job.kind === "render" && job.source.kind === "url") offerUpload(item, job, title);
  if (job.status === STATUS.COMPLETED) {
    const outputs = el("div", { class: "outputs" });
    for (const output of job.outputs) {
      outputs.append(el("figure", { class: "output" },
        el("video", { controls: "", preload: "metadata", playsinline: "", src: output.url }),
        el("figcaption", {},
          el("span", { text: `${output.brand} · ${job.formats.length > 1 ? output.format + " · " : ""}${output.width}×${output.height} · ${output.duration.toFixed(1)} s · ${size(output.size_bytes)}` }),
          el("a", { href: output.url, download: output.filename, text: "Download" }),
          output.post_text ? postText(output.post_text, output.brand) : "")));
    }
    item.append(outputs);
    if (job.outputs.length) item.append(el("a", { class: "button secondary", href: `/api/jobs/${job.id}/archive`, text: "Download all (ZIP)" }));
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
  body.append(el("div", { class: "actions" }, pin, remove));
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
  // the browser's own words for a pattern are "Please match the requested format": say what is allowed
  const idInput = form.querySelector('input[name="id"][pattern]');
  if (idInput) idInput.addEventListener("input", () => idInput.setCustomValidity(idInput.validity.patternMismatch ? idInput.title : ""));
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
    document.getElementById("cookies-form").addEventListener("submit", uploadCookies);
    loadCookies().catch((e) => showMessage(document.getElementById("cookies-message"), e.message));
    loadSites().catch((e) => showMessage(document.getElementById("cookies-message"), e.message));
    setInterval(() => loadSites().catch(() => {}), 15000);  // a site pauses and recovers while the page is open
  }
  document.querySelectorAll(".brand-form").forEach(setupBrandForm);
  setupPreviewClip();
  setupLibrary();
});
