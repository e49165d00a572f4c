// xasflow serve: the page. Talks only to this server's /api; plots with the plotly.js it serves.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
let lastFiles = [];
let lastOptions = {};

function showError(box, text) {
  const div = document.createElement("div");
  div.className = "error";
  div.textContent = text;
  box.appendChild(div);
}

async function detail(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (e) {
    return response.statusText;
  }
}

function options() {
  return { element: $("element").value, fidelity: $("fidelity").value, model: $("model").value, sites: $("sites").value.trim() };
}

function formFor(files, opts) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  for (const [key, value] of Object.entries(opts)) if (value) form.append(key, value);
  return form;
}

async function health() {
  try {
    const response = await fetch("/api/health");
    const body = await response.json();
    $("status").textContent = `server ok · xasflow ${body.version}`;
    $("status").className = "status ok";
    for (const element of body.elements) {
      $("element").add(new Option(element, element));
      $("match-element").add(new Option(element, element));
    }
    if (body.elements.includes("Cu")) $("match-element").value = "Cu";
  } catch (e) {
    $("status").textContent = "server unreachable";
    $("status").className = "status bad";
  }
}

// ---- panel 1: predictions ------------------------------------------------------------------------

async function predictAll(event) {
  event.preventDefault();
  const files = Array.from($("files").files);
  const box = $("predict-errors");
  box.replaceChildren();
  if (!files.length) return showError(box, "Choose one or more structure files first.");
  lastFiles = files;
  lastOptions = options();
  $("predict-button").disabled = true;
  $("progress").hidden = false;
  $("progress-bar").max = files.length;
  const predictions = [];
  const errors = [];
  // One request per file: a counter for long batches, and one bad file never hides the others.
  for (const [i, file] of files.entries()) {
    $("progress-bar").value = i;
    $("progress-text").textContent = `${i} of ${files.length} files done — predicting ${file.name}`;
    const response = await fetch("/api/predict", { method: "POST", body: formFor([file], lastOptions) });
    if (response.ok) {
      const body = await response.json();
      predictions.push(...body.predictions);
      errors.push(...body.errors);
    } else {
      errors.push({ source: file.name, message: await detail(response) });
    }
  }
  $("progress-bar").value = files.length;
  $("progress-text").textContent = `${files.length} of ${files.length} files done: ${predictions.length} spectra, ${errors.length} problem(s)`;
  $("predict-button").disabled = false;
  for (const error of errors) showError(box, `${error.source}: ${error.message}`);
  render(predictions);
}

function outOfDomain(record) {
  return record.sites.some((site) => site.in_domain === false);
}

function render(predictions) {
  const charts = $("charts");
  charts.replaceChildren();
  const byElement = {};
  for (const record of predictions) (byElement[record.element] ||= []).push(record);
  for (const [element, records] of Object.entries(byElement)) {
    const div = document.createElement("div");
    div.className = "chart";
    div.id = `chart-${element}`;
    charts.appendChild(div);
    const traces = [];
    records.forEach((record, k) => {
      const color = COLORS[k % COLORS.length];
      const ood = outOfDomain(record);
      const name = `${record.source} · ${record.formula} (${record.model})${ood ? " · out of domain" : ""}`;
      const x = record.energies;
      if (record.average_std) {
        const upper = record.average.map((v, j) => v + record.average_std[j]);
        const lower = record.average.map((v, j) => v - record.average_std[j]);
        traces.push({ x, y: upper, mode: "lines", line: { width: 0, color }, hoverinfo: "skip", showlegend: false, legendgroup: name });
        traces.push({ x, y: lower, mode: "lines", line: { width: 0, color }, fill: "tonexty", fillcolor: color + "33",
          hoverinfo: "skip", showlegend: false, legendgroup: name });
      }
      traces.push({ x, y: record.average, mode: "lines", name, legendgroup: name,
        line: { color, width: 2, dash: ood ? "dash" : "solid" },
        hovertemplate: "%{x:.2f} eV<br>μ %{y:.4f}<extra>" + record.formula + "</extra>" });
    });
    Plotly.newPlot(div, traces, {
      title: { text: `${element} K edge: site-averaged spectra, ±1σ band (dashed: out of the model's domain)`, font: { size: 14 } },
      xaxis: { title: { text: "energy (eV)" } }, yaxis: { title: { text: "μ (site average)" } },
      margin: { t: 40, r: 10, b: 45, l: 60 }, legend: { orientation: "h", y: -0.2, traceorder: "normal" },
    }, { responsive: true, displaylogo: false });
  }
  // The CLI's warning, in the same words: out-of-domain sites deserve less trust than their band says.
  const warnings = $("predict-warnings");
  warnings.replaceChildren();
  for (const record of predictions) {
    const outside = record.sites.filter((site) => site.in_domain === false);
    if (!outside.length) continue;
    const div = document.createElement("div");
    div.className = "warning";
    const listing = outside.map((site) => `${site.index} (score ${site.ood_score.toFixed(2)})`).join(", ");
    div.textContent = `${record.source}: ${record.element} site(s) ${listing} out of the model's training domain: ` +
      "treat these spectra with caution";
    warnings.appendChild(div);
  }
  const body = $("sites-table").tBodies[0];
  body.replaceChildren();
  for (const record of predictions) {
    for (const site of record.sites) {
      const row = body.insertRow();
      if (site.in_domain === false) row.className = "ood";
      const cells = [record.source, record.formula, record.element, site.index, site.multiplicity,
        site.ood_score == null ? "" : site.ood_score.toFixed(2), site.in_domain === false ? "no" : "yes"];
      cells.forEach((value, j) => {
        const cell = row.insertCell();
        cell.textContent = value;
        if (j < 3) cell.className = "text";
      });
    }
  }
  $("sites-wrap").hidden = predictions.length === 0;
}

async function download(format) {
  // The same request as the CLI run over all files at once: the bytes `xasflow predict --out` writes.
  const box = $("predict-errors");
  const response = await fetch(`/api/predict?format=${format}`, { method: "POST", body: formFor(lastFiles, lastOptions) });
  if (!response.ok) return showError(box, `download failed: ${await detail(response)}`);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = `predictions.${format}`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- panel 2: matching ---------------------------------------------------------------------------

async function matchSpectrum(event) {
  event.preventDefault();
  const box = $("match-errors");
  box.replaceChildren();
  const measured = $("measured").files[0];
  if (!measured) return showError(box, "Choose a measured spectrum first.");
  const form = new FormData();
  form.append("measured", measured, measured.name);
  for (const file of $("candidates").files) form.append("candidates", file, file.name);
  form.append("element", $("match-element").value);
  form.append("reference", $("reference").checked ? "true" : "false");
  form.append("mix", $("mix").checked ? "true" : "false");
  form.append("energy_unit", $("energy-unit").value);
  form.append("offset_rule", $("offset-rule").value);
  $("match-button").disabled = true;
  $("match-progress").hidden = false;
  try {
    const response = await fetch("/api/match", { method: "POST", body: form });
    if (!response.ok) return showError(box, `${measured.name}: ${await detail(response)}`);
    const result = await response.json();
    for (const error of result.errors) showError(box, `${error.source}: ${error.message}`);
    renderMatch(result);
  } finally {
    $("match-button").disabled = false;
    $("match-progress").hidden = true;
  }
}

function renderMatch(result) {
  $("metric-head").textContent = `${result.metric} (higher = better)`;
  const body = $("ranking-table").tBodies[0];
  body.replaceChildren();
  for (const row of result.ranking) {
    const tr = body.insertRow();
    const cells = [row.rank, row.formula, row.score.toFixed(4), row.r_factor.toFixed(4), row.confidence.toFixed(2),
      (row.shift_eV >= 0 ? "+" : "") + row.shift_eV.toFixed(2),
      row.sigma_eV.toFixed(2), row.scale.toFixed(3), row.source + (row.shift_at_bound ? " (shift at bound)" : "")];
    cells.forEach((value, j) => {
      const cell = tr.insertCell();
      cell.textContent = value;
      if (j === 1 || j === 8) cell.className = "text";
    });
  }
  // R is the misfit (lower is better); conf the calibrated probability, as the CLI prints them.
  const tie = result.ranking.length > 1 && result.ranking[0].near_tie;
  $("ranking-note").textContent = "R: R-factor misfit (lower is better); conf: probability that the candidate is the measured compound." +
    (tie ? " Near tie: the runner-up is at least half as probable as rank 1; the ranking cannot tell them apart." : "");
  const mixture = $("mixture");
  mixture.replaceChildren();
  if (result.mixture) {
    const m = result.mixture;
    const p = document.createElement("p");
    p.textContent = `Mixture: shift ${m.shift_eV.toFixed(2)} ± ${m.shift_std_eV.toFixed(2)} eV, σ ${m.sigma_eV.toFixed(2)} eV, R ${m.r_factor.toFixed(5)} — ` +
      m.components.map((c) => `${c.formula} ${c.fraction.toFixed(3)} ± ${c.fraction_std.toFixed(3)}`).join(", ");
    mixture.appendChild(p);
  }
  $("ranking-wrap").hidden = false;
  const o = result.overlay;
  const traces = [{ x: o.energy, y: o.measured, mode: "lines", name: `measured: ${result.measured.source}`, line: { color: "black", width: 2.5 } }];
  o.candidates.forEach((c, k) => {
    const color = COLORS[k % COLORS.length];
    const name = `${c.rank}. ${c.formula} (${c.source})`;
    if (c.std) {
      traces.push({ x: c.energy, y: c.spectrum.map((v, j) => v + c.std[j]), mode: "lines", line: { width: 0, color }, hoverinfo: "skip", showlegend: false });
      traces.push({ x: c.energy, y: c.spectrum.map((v, j) => v - c.std[j]), mode: "lines", line: { width: 0, color }, fill: "tonexty",
        fillcolor: color + "33", hoverinfo: "skip", showlegend: false });
    }
    traces.push({ x: c.energy, y: c.spectrum, mode: "lines", name, line: { color, width: 1.6 } });
  });
  if (o.mixture) {
    traces.push({ x: o.mixture.energy, y: o.mixture.spectrum, mode: "lines", name: `mixture fit (R ${result.mixture.r_factor.toFixed(5)})`, line: { color: "#555", dash: "dot" } });
  }
  Plotly.newPlot($("overlay"), traces, {
    title: { text: `${result.element} K edge: measurement and the best ${o.candidates.length} candidates (aligned)`, font: { size: 14 } },
    xaxis: { title: { text: "energy (eV, measured scale)" } }, yaxis: { title: { text: "normalised μ" } },
    margin: { t: 40, r: 10, b: 45, l: 60 }, legend: { orientation: "h", y: -0.2, traceorder: "normal" }, height: 380,
  }, { responsive: true, displaylogo: false });
}

// ---- wiring ------------------------------------------------------------------------------------

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  $("files").files = e.dataTransfer.files;
  drop.querySelector("span").textContent = `${e.dataTransfer.files.length} file(s) chosen`;
});
$("files").addEventListener("change", () => {
  drop.querySelector("span").textContent = `${$("files").files.length} file(s) chosen: ` + Array.from($("files").files).map((f) => f.name).join(", ");
});
$("predict-form").addEventListener("submit", predictAll);
$("match-form").addEventListener("submit", matchSpectrum);
$("download-csv").addEventListener("click", () => download("csv"));
$("download-json").addEventListener("click", () => download("json"));
health();
