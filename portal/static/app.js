// The dashboard's behaviour: submit jobs, follow them live, show results, edit brands.
// Calls the same /api as scripts, authenticated by the session cookie plus the CSRF token.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
// Job statuses as the server names them (portal.jobs.JobStatus), from base.html.
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

function renderJob(job) {
  let item = document.getElementById(`job-${job.id}`);
  const fresh = el("li", { id: `job-${job.id}`, class: `job ${job.status}`, "data-status": job.status });
  if (item) item.replaceWith(fresh); else document.getElementById("jobs").prepend(fresh);
  item = fresh;
  const title = job.source.title || job.source.name;
  item.append(el("div", { class: "job-head" },
    el("strong", { text: title }),
    el("span", { class: "status", text: job.stage && !TERMINAL.includes(job.status) ? `${job.status} · ${job.stage}` : job.status })));
  item.append(el("div", { class: "meta", text: `${job.kind === "fetch" ? "download only" : job.brands.join(", ")} · ${job.preset}` }));
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
    const outputs = el("div", { class: "outputs" });
    for (const output of job.outputs) {
      outputs.append(el("figure", { class: "output" },
        el("video", { controls: "", preload: "metadata", playsinline: "", src: output.url }),
        el("figcaption", {},
          el("span", { text: `${output.brand} · ${output.width}×${output.height} · ${output.duration.toFixed(1)} s · ${size(output.size_bytes)}` }),
          el("a", { href: output.url, download: output.filename, text: "Download" }))));
    }
    item.append(outputs);
    if (job.outputs.length) item.append(el("a", { class: "button secondary", href: `/api/jobs/${job.id}/archive`, text: "Download all (ZIP)" }));
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
    list.append(el("li", { id: `job-${job.id}` }));  // keeps the page's order; renderJob fills it in
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
  const brands = [...form.querySelectorAll('input[name="brands"]:checked')].map((box) => box.value);
  const urls = form.urls.value.split("\n").map((line) => line.trim()).filter(Boolean);
  const file = form.file.files[0];
  const preset = form.preset.value;
  const fit = form.fit.value;
  if (!brands.length) return showMessage(message, "Tick at least one brand.");
  if (!urls.length && !file) return showMessage(message, "Paste a link or choose a video file.");
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    if (file) {
      const body = new FormData();
      body.append("file", file);
      const uploaded = await api("POST", "/api/uploads", body);
      const data = await api("POST", "/api/videos/process", { upload_id: uploaded.upload.id, brands, preset, fit });
      renderJob(data.job);
      form.file.value = "";
    }
    if (urls.length) {
      const data = await api("POST", "/api/videos/process", { urls, brands, preset, fit });
      for (const job of data.jobs) renderJob(job);
      form.urls.value = "";
    }
  } catch (error) {
    showMessage(message, error.message);
  } finally {
    button.disabled = false;
  }
}

// ---- brands --------------------------------------------------------------------------------------

function brandId(form) {
  const section = form.closest("[data-brand]");
  return section.dataset.brand || (form.id && form.id.value.trim());
}

async function postBrandForm(form, path) {
  const response = await fetch(path, { method: "POST", body: new FormData(form), headers: { "X-CSRF-Token": csrf } });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new Error(data && data.error ? data.error.message : `The server answered ${response.status}.`);
  }
  return response;
}

function setupBrandForm(form) {
  const error = form.querySelector(".error");
  const figure = form.querySelector(".live-preview");
  const preview = async () => {
    showMessage(error, "");
    const id = brandId(form);
    if (!id) return showMessage(error, "Give the brand an id first.");
    try {
      const response = await postBrandForm(form, `/brands/${encodeURIComponent(id)}/preview`);
      const image = figure.querySelector("img");
      if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
      image.src = URL.createObjectURL(await response.blob());
      figure.hidden = false;
    } catch (e) { showMessage(error, e.message); }
  };
  let timer = null;
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 600); });
  form.querySelector('[data-action="preview"]').addEventListener("click", preview);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showMessage(error, "");
    const id = brandId(form);
    try {
      await postBrandForm(form, `/brands/${encodeURIComponent(id)}`);
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

document.addEventListener("DOMContentLoaded", () => {
  const jobForm = document.getElementById("new-job");
  if (jobForm) {
    jobForm.addEventListener("submit", submitJob);
    document.getElementById("status-filter").addEventListener("change", () => loadJobs(true));
    document.getElementById("more").addEventListener("click", () => loadJobs(false));
    loadJobs(true).catch((e) => showMessage(document.getElementById("form-message"), e.message));
  }
  document.querySelectorAll(".brand-form").forEach(setupBrandForm);
});
