/// The page at `/`: everything inline (no CDN, fonts or scripts from elsewhere). Files are sent to
/// `/api/predict` in small batches; thumbnails are the user's own files shown through blob: URLs; the threshold,
/// sorting, patient summary and CSV are computed in the page, so moving the slider needs no request.
enum IndexPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bc-serve: breast histopathology patches</title>
<style>
  :root { --ink: #1d2530; --muted: #5b6673; --line: #d5dbe1; --soft: #f4f6f8; --accent: #2f5d8a;
          --malignant: #8a1f1f; --malignant-bg: #fbe9e7; --benign: #1f4e79; --benign-bg: #e7f0fa;
          --warn: #7a4b00; --warn-bg: #fff4d6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
         color: var(--ink); background: #fff; }
  header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--soft); }
  header h1 { margin: 0; font-size: 22px; font-weight: 600; }
  header p { margin: 4px 0 0; color: var(--muted); font-size: 14px; }
  main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
  h2 { font-size: 18px; margin: 28px 0 8px; font-weight: 600; }
  #drop { border: 2px dashed #9aa7b4; border-radius: 8px; padding: 28px; text-align: center; background: #fafbfc; }
  #drop.over { border-color: var(--accent); background: #eef4fa; }
  #drop p { margin: 4px 0; }
  .hint { color: var(--muted); font-size: 14px; }
  button, .button { font: inherit; font-size: 15px; padding: 6px 14px; border: 1px solid #8795a3; border-radius: 6px;
                    background: #fff; color: var(--ink); cursor: pointer; }
  button:hover, .button:hover { background: var(--soft); }
  button:disabled { color: #9aa7b4; border-color: var(--line); cursor: default; background: #fff; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  input[type=file] { position: absolute; width: 1px; height: 1px; opacity: 0; }
  .controls { display: flex; flex-wrap: wrap; gap: 16px 28px; align-items: center; margin: 18px 0 6px; }
  .controls label { font-weight: 500; }
  #threshold { width: 240px; vertical-align: middle; }
  #threshold-value { display: inline-block; min-width: 3.2em; font-variant-numeric: tabular-nums; font-weight: 600; }
  #status { min-height: 1.5em; color: var(--muted); }
  #status.problem, .problem { color: var(--warn); }
  table { border-collapse: collapse; width: 100%; font-size: 15px; }
  th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; }
  th { background: var(--soft); font-weight: 600; position: sticky; top: 0; }
  th.sortable { cursor: pointer; user-select: none; white-space: nowrap; }
  th.sortable::after { content: " \2195"; color: #9aa7b4; }
  th.sortable[aria-sort=ascending]::after { content: " \2191"; color: var(--ink); }
  th.sortable[aria-sort=descending]::after { content: " \2193"; color: var(--ink); }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.file { word-break: break-all; max-width: 420px; }
  td.patient { white-space: nowrap; }
  tr.failed td { background: var(--warn-bg); }
  td.error { color: var(--warn); }
  .thumb { width: 72px; height: 48px; object-fit: cover; border-radius: 3px; border: 1px solid var(--line); display: block; }
  .nothumb { width: 72px; height: 48px; border: 1px dashed var(--line); border-radius: 3px; color: var(--muted);
             font-size: 12px; display: flex; align-items: center; justify-content: center; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 14px; font-weight: 600; }
  .badge.malignant { color: var(--malignant); background: var(--malignant-bg); }
  .badge.benign, .badge.other { color: var(--benign); background: var(--benign-bg); }
  .bar { display: inline-block; width: 60px; height: 8px; background: var(--soft); border: 1px solid var(--line);
         border-radius: 4px; margin-left: 8px; vertical-align: middle; overflow: hidden; }
  .bar span { display: block; height: 100%; background: #8795a3; }
  .empty { color: var(--muted); padding: 14px 10px; }
  footer { color: var(--muted); font-size: 13px; margin-top: 32px; }
</style>
</head>
<body>
<header>
  <h1>Breast histopathology patch classifier</h1>
  <p id="model">Loading the model description&hellip;</p>
</header>
<main>
  <div id="drop">
    <p><strong>Drop PNG patches or .zip files of them here</strong></p>
    <p><label class="button" for="files">Choose files&hellip;</label>
       <input id="files" type="file" multiple accept=".png,image/png,.zip,application/zip"></p>
    <p class="hint">Files are sent only to this server, which keeps nothing. BreakHis names
      (e.g. SOB_M_DC-14-2523-40-016.png) give the patient and magnification.</p>
  </div>

  <div class="controls">
    <div><label for="threshold">Call malignant when P(malignant) &ge;</label>
      <input id="threshold" type="range" min="0" max="1" step="0.01" value="0.5">
      <span id="threshold-value">0.50</span></div>
    <button id="download" class="primary" disabled>Download CSV</button>
    <button id="clear" disabled>Clear</button>
  </div>
  <div id="status" role="status" aria-live="polite"></div>

  <h2>Patients</h2>
  <table id="summary">
    <thead><tr><th>Patient</th><th class="num">Magnification</th><th class="num">Images</th>
      <th class="num">Mean P(malignant)</th><th class="num">Called malignant</th><th class="num">Errors</th></tr></thead>
    <tbody><tr><td class="empty" colspan="6">No images yet.</td></tr></tbody>
  </table>

  <h2>Images</h2>
  <table id="results">
    <thead><tr>
      <th class="sortable num" data-key="index">#</th><th>Image</th>
      <th class="sortable" data-key="file">File</th><th class="sortable" data-key="patient">Patient</th>
      <th class="sortable num" data-key="magnification">Mag.</th>
      <th class="sortable num" data-key="p">P(malignant)</th><th class="sortable" data-key="label">Label</th>
      <th class="sortable" data-key="error">Problem</th></tr></thead>
    <tbody><tr><td class="empty" colspan="8">No images yet.</td></tr></tbody>
  </table>
  <footer>A decision aid for research use: every call needs a pathologist's review.</footer>
</main>
<script>
"use strict";
const state = { model: null, rows: [], threshold: 0.5, sort: { key: "index", dir: 1 }, busy: 0, done: 0, total: 0 };
const $ = (id) => document.getElementById(id);
const batchSize = 16;

function el(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function positiveClass() {
  return state.model ? state.model.positive_class : "malignant";
}

// bc-predict's rule: two classes, the positive one at or above the threshold; otherwise the most probable class.
function labelOf(row) {
  if (row.error || !row.probabilities) return "";
  const names = state.model.class_names, positive = state.model.positive_class;
  if (names.length === 2) return row.p >= state.threshold ? positive : names.find((n) => n !== positive);
  return names.reduce((best, name) => (row.probabilities[name] > row.probabilities[best] ? name : best), names[0]);
}

function setStatus(text, problem) {
  $("status").textContent = text;
  $("status").className = problem ? "problem" : "";
}

async function loadModel() {
  try {
    const reply = await fetch("/api/model");
    const model = await reply.json();
    state.model = model;
    state.threshold = model.threshold;
    $("threshold").value = model.threshold;
    $("threshold-value").textContent = model.threshold.toFixed(2);
    $("model").textContent = `Model ${model.model} (${model.architecture}, input ${model.input_shape[0]}\u00d7${model.input_shape[1]}, ` +
      `classes ${model.class_names.join(", ")}, ${model.preprocessing} preprocessing)`;
  } catch (error) {
    $("model").textContent = "The model description could not be loaded: " + error;
  }
}

function isZip(file) { return /\.zip$/i.test(file.name) || file.type === "application/zip" || file.type === "application/x-zip-compressed"; }

async function addFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  if (!state.model) await loadModel();
  const zips = files.filter(isZip), images = files.filter((f) => !isZip(f));
  const jobs = [];
  for (let i = 0; i < images.length; i += batchSize) jobs.push(images.slice(i, i + batchSize));
  for (const zip of zips) jobs.push([zip]);
  state.total += images.length + zips.length;
  state.busy += 1;
  render();
  for (const job of jobs) await sendJob(job);
  state.busy -= 1;
  render();
}

async function sendJob(files) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  let reply, body;
  for (let attempt = 0; ; attempt++) {
    try {
      reply = await fetch("/api/predict", { method: "POST", body: form });
      body = await reply.json();
    } catch (error) {
      reply = null; body = { error: "the server did not answer (" + error.message + ")" };
    }
    if (reply && reply.status === 503 && attempt < 20) {
      setStatus("The server is busy; trying again\u2026");
      await new Promise((r) => setTimeout(r, 1000 * Number(reply.headers.get("Retry-After") || 1)));
      continue;
    }
    break;
  }
  if (reply && reply.ok) {
    // One row per file, unless the server found a zip among them: then no file is matched to a row.
    const matched = body.results.length === files.length && !files.some(isZip);
    body.results.forEach((result, i) => {
      addRow(result, matched && !result.error ? URL.createObjectURL(files[i]) : null, matched ? "" : "zip");
    });
  } else {
    for (const file of files) addRow({ file: file.name, error: body.error || ("HTTP " + (reply && reply.status)) }, null, "");
  }
  state.done += files.length;
  render();
}

function addRow(result, thumb, note) {
  state.rows.push({
    index: state.rows.length + 1, file: result.file, patient: result.patient || null,
    magnification: result.magnification || null, probabilities: result.probabilities || null,
    p: typeof result.p_malignant === "number" ? result.p_malignant : null, error: result.error || null,
    thumb: thumb, note: note,
  });
}

function sortValue(r, key) { return key === "label" ? labelOf(r) : r[key]; }

// Missing values (errors) stay last in either direction; ties keep upload order.
function compareRows(a, b) {
  const { key, dir } = state.sort;
  const x = sortValue(a, key), y = sortValue(b, key);
  const missingX = x === null || x === "", missingY = y === null || y === "";
  if (missingX || missingY) return missingX === missingY ? a.index - b.index : (missingX ? 1 : -1);
  const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
  return dir * order || a.index - b.index;
}

function render() {
  renderResults();
  renderSummary();
  const errors = state.rows.filter((r) => r.error).length;
  $("download").disabled = state.rows.length === 0;
  $("clear").disabled = state.rows.length === 0 || state.busy > 0;
  if (state.busy) setStatus(`Classifying\u2026 ${state.done} of ${state.total} files sent`);
  else if (state.rows.length) setStatus(`Done: ${state.rows.length} images` + (errors ? `, ${errors} could not be read` : "") + ".", errors > 0);
  else setStatus("");
}

function renderResults() {
  const body = $("results").tBodies[0];
  body.replaceChildren();
  if (!state.rows.length) { body.append(row([el("td", { class: "empty", colspan: 8 }, "No images yet.")])); return; }
  const { key, dir } = state.sort;
  const rows = state.rows.slice().sort(compareRows);
  for (const r of rows) {
    const label = labelOf(r);
    const image = r.thumb ? el("img", { class: "thumb", src: r.thumb, alt: "" }) : el("div", { class: "nothumb" }, r.note || "\u2014");
    const p = el("td", { class: "num p" }, r.p === null ? "" : r.p.toFixed(3));
    if (r.p !== null) {
      p.dataset.p = String(r.p);
      const bar = el("span", { class: "bar" }), fill = el("span");
      fill.style.width = (100 * r.p).toFixed(1) + "%";
      bar.append(fill);
      p.append(bar);
    }
    const labelCell = el("td", { class: "label" });
    if (label) labelCell.append(el("span", { class: "badge " + (label === positiveClass() ? "malignant" : "benign") }, label));
    const tr = row([el("td", { class: "num" }, r.index), el("td", {}, null), el("td", { class: "file" }, r.file),
      el("td", { class: "patient" }, r.patient || ""), el("td", { class: "num" }, r.magnification ? r.magnification + "\u00d7" : ""),
      p, labelCell, el("td", { class: "error" }, r.error || "")]);
    tr.children[1].append(image);
    tr.dataset.file = r.file;
    tr.dataset.label = label;
    if (r.error) tr.className = "failed";
    body.append(tr);
  }
  for (const th of $("results").tHead.querySelectorAll("th.sortable")) {
    th.setAttribute("aria-sort", th.dataset.key === key ? (dir > 0 ? "ascending" : "descending") : "none");
  }
}

function row(cells) { const tr = el("tr"); tr.append(...cells); return tr; }

function patientGroups() {
  const groups = new Map();
  for (const r of state.rows) {
    const id = (r.patient || "") + "|" + (r.magnification || "");
    if (!groups.has(id)) groups.set(id, { patient: r.patient, magnification: r.magnification, rows: [] });
    groups.get(id).rows.push(r);
  }
  return Array.from(groups.values()).sort((a, b) =>
    (a.patient === null) - (b.patient === null) || String(a.patient).localeCompare(String(b.patient), undefined, { numeric: true }) ||
    (a.magnification || 0) - (b.magnification || 0));
}

function renderSummary() {
  const body = $("summary").tBodies[0];
  body.replaceChildren();
  if (!state.rows.length) { body.append(row([el("td", { class: "empty", colspan: 6 }, "No images yet.")])); return; }
  for (const g of patientGroups()) {
    const scored = g.rows.filter((r) => r.p !== null);
    const mean = scored.length ? scored.reduce((s, r) => s + r.p, 0) / scored.length : null;
    const called = scored.filter((r) => labelOf(r) === positiveClass()).length;
    const tr = row([el("td", {}, g.patient || "(name not BreakHis)"),
      el("td", { class: "num" }, g.magnification ? g.magnification + "\u00d7" : ""),
      el("td", { class: "num" }, scored.length), el("td", { class: "num" }, mean === null ? "" : mean.toFixed(3)),
      el("td", { class: "num called" }, scored.length ? `${called} of ${scored.length} (${Math.round(100 * called / scored.length)}%)` : ""),
      el("td", { class: "num" + (g.rows.length - scored.length ? " problem" : "") }, g.rows.length - scored.length || "")]);
    tr.dataset.patient = g.patient || "";
    body.append(tr);
  }
}

// RFC 4180 quoting, and a leading quote for text a spreadsheet would run as a formula (as bc-predict writes).
function csvField(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@]/.test(text)) text = "'" + text;
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function csv() {
  const names = state.model.class_names, positive = state.model.positive_class;
  const columns = names.length === 2 ? [positive] : names;
  const lines = [["file", "patient", "magnification", ...columns.map((c) => "p_" + c), "label", "model", "error"].join(",")];
  for (const r of state.rows) {
    const ps = columns.map((c) => (r.probabilities ? r.probabilities[c].toFixed(6) : ""));
    lines.push([r.file, r.patient, r.magnification, ...ps, labelOf(r), state.model.model, r.error].map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}

function download() {
  const url = URL.createObjectURL(new Blob([csv()], { type: "text/csv" }));
  const link = el("a", { href: url, download: "predictions.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function clearAll() {
  for (const r of state.rows) if (r.thumb) URL.revokeObjectURL(r.thumb);
  Object.assign(state, { rows: [], done: 0, total: 0 });
  render();
}

$("files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
const drop = $("drop");
for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const name of ["dragleave", "drop"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
drop.addEventListener("drop", (e) => addFiles(e.dataTransfer.files));
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());
$("threshold").addEventListener("input", (e) => {
  state.threshold = Number(e.target.value);
  $("threshold-value").textContent = state.threshold.toFixed(2);
  render();
});
for (const th of document.querySelectorAll("#results th.sortable")) {
  th.addEventListener("click", () => {
    const key = th.dataset.key;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : (key === "p" ? -1 : 1) };
    renderResults();
  });
}
$("download").addEventListener("click", download);
$("clear").addEventListener("click", clearAll);
window.bcServe = { state, csv, labelOf };
loadModel();
</script>
</body>
</html>
"""#
}
