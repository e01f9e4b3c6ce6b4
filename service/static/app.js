// The upload page. Plain browser JavaScript, no build step: it calls the public
// POST /remove-background exactly as an API client would and shows what comes back.
"use strict";

const $ = (id) => document.getElementById(id);
const EXTENSIONS = {
  "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg", "application/zip": "zip", "video/webm": "webm",
};
// A clip goes to POST /remove-background/video and plays back in the page (WebM; VP9 with alpha for rgba).
const isVideo = (file) => Boolean(file && file.type && file.type.startsWith("video/"));

let currentFile = null;
let originalUrl = null;
let resultUrl = null;
let inFlight = null; // AbortController of the running request: a newer choice cancels it
let compareUrls = [];

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
  // Mirrored on <body> so styles (and the browser test) can follow the page's state.
  document.body.dataset.state = state;
}

function replaceUrl(old, blob) {
  if (old) URL.revokeObjectURL(old);
  return blob ? URL.createObjectURL(blob) : null;
}

// JPEG has no alpha channel, so it is only offered where the result has none.
function syncOptions() {
  const output = $("output").value;
  const jpeg = $("format").querySelector('option[value="jpeg"]');
  jpeg.disabled = output === "rgba";
  if (jpeg.disabled && $("format").value === "jpeg") $("format").value = "png";
  $("format").disabled = output === "zip";
  $("bg-color").disabled = output !== "composite";
  $("bg-label").classList.toggle("disabled", output !== "composite");
  $("decontaminate").disabled = output === "mask"; // a mask has no colour to clean
  $("crop-margin").disabled = !$("crop").checked; // a margin only means something around a crop
  $("margin-label").classList.toggle("disabled", !$("crop").checked);
}

function requestUrl(outputOverride) {
  const output = outputOverride || $("output").value;
  const params = new URLSearchParams({ output });
  if (output !== "zip") params.set("format", output === "rgba" && $("format").value === "jpeg" ? "png" : $("format").value);
  if (output === "composite") params.set("bg_color", $("bg-color").value);
  if ($("engine").value !== "auto") params.set("engine", $("engine").value);
  if ($("refine").value !== "none") params.set("refine", $("refine").value);
  if (!$("decontaminate").checked && output !== "mask") params.set("decontaminate", "false");
  if ($("crop").checked) {
    params.set("crop", "true");
    const margin = $("crop-margin").value.trim();
    if (margin && margin !== "0px") params.set("crop_margin", margin);
  }
  // Relative, so the page also works behind a reverse proxy that mounts the service under a prefix.
  return "remove-background?" + params.toString();
}

function videoUrl() {
  const output = $("output").value === "zip" ? "rgba" : $("output").value; // a clip has no ZIP output
  const params = new URLSearchParams({ output });
  if (output === "composite") params.set("bg_color", $("bg-color").value);
  if ($("engine").value !== "auto") params.set("engine", $("engine").value);
  return "remove-background/video?" + params.toString();
}

async function describeError(response) {
  let code = "http_" + response.status;
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) {
    // not JSON (a proxy's error page): keep the status line
  }
  const retry = response.headers.get("Retry-After");
  return `${message} (${code}${retry ? `, retry after ${retry} s` : ""})`;
}

function clearOriginal() {
  originalUrl = replaceUrl(originalUrl, null);
  $("original-img").hidden = true;
  $("original-img").removeAttribute("src");
  $("original-size").textContent = "";
}

function showOriginal(file) {
  clearOriginal(); // the previous image's size must not stay on screen while this one loads
  if (isVideo(file)) return; // the result plays below; the original stays with the user
  originalUrl = replaceUrl(originalUrl, file);
  const img = $("original-img");
  img.onload = () => { $("original-size").textContent = `${img.naturalWidth} × ${img.naturalHeight}`; };
  img.onerror = () => clearOriginal(); // the browser cannot show it (the server may still read it)
  img.src = originalUrl;
  img.hidden = false;
}

function clearCompare() {
  for (const url of compareUrls) URL.revokeObjectURL(url);
  compareUrls = [];
  $("compare").hidden = true;
  for (const img of $("compare").querySelectorAll("img")) img.removeAttribute("src");
  for (const span of $("compare").querySelectorAll("span")) span.textContent = "";
}

// The result's size, and what cropping made of the original's (e.g. "412 × 380, cropped from 612 × 408").
function sizeText(response) {
  const w = response.headers.get("X-Image-Width");
  const h = response.headers.get("X-Image-Height");
  if (!w || !h) return "";
  const img = $("original-img");
  const cropped = $("crop").checked && img.naturalWidth && (`${w}` !== `${img.naturalWidth}` || `${h}` !== `${img.naturalHeight}`);
  return `${w} × ${h}` + (cropped ? `, cropped from ${img.naturalWidth} × ${img.naturalHeight}` : "");
}

function clearResult() {
  resultUrl = replaceUrl(resultUrl, null);
  $("result-img").hidden = true;
  $("result-img").removeAttribute("src");
  $("result-video").hidden = true;
  $("result-video").removeAttribute("src");
  $("result-note").hidden = true;
  $("download").hidden = true;
  $("result-meta").textContent = "";
  $("compare-button").disabled = true;
}

async function showResult(response, blob) {
  resultUrl = replaceUrl(resultUrl, blob);
  const mediaType = (response.headers.get("Content-Type") || "").split(";")[0].trim();
  const ext = EXTENSIONS[mediaType] || "bin";
  const stem = currentFile.name.replace(/\.[^.]+$/, "") || "image";
  const download = $("download");
  download.href = resultUrl;
  download.download = `${stem}-${$("output").value}.${ext}`;
  download.hidden = false;

  const engine = response.headers.get("X-Engine") || "?";
  const model = response.headers.get("X-Model");
  const ms = response.headers.get("X-Processing-Time-Ms");
  const fallback = response.headers.get("X-Fallback-Reason");
  $("result-meta").textContent = [
    sizeText(response),
    engine + (model ? ` (${model})` : ""),
    ms ? `${Math.round(Number(ms))} ms` : "",
    fallback ? `fallback: ${fallback}` : "",
  ].filter(Boolean).join(" · ");

  if (mediaType === "application/zip") {
    $("result-note").textContent = "A ZIP of color.jpg + alpha.png: use the download button.";
    $("result-note").hidden = false;
    return;
  }
  const img = $("result-img");
  img.src = resultUrl;
  img.hidden = false;
  await img.decode(); // "done" only once the result is really displayable
}

async function showVideoResult(response, blob) {
  resultUrl = replaceUrl(resultUrl, blob);
  const stem = currentFile.name.replace(/\.[^.]+$/, "") || "clip";
  const download = $("download");
  download.href = resultUrl;
  download.download = `${stem}-${$("output").value === "zip" ? "rgba" : $("output").value}.webm`;
  download.hidden = false;
  const frames = response.headers.get("X-Video-Frames");
  const engine = response.headers.get("X-Engine") || "?";
  $("result-meta").textContent = [frames ? `${frames} frames` : "", engine].filter(Boolean).join(" · ");
  const video = $("result-video");
  const playable = new Promise((resolve, reject) => {
    video.onloadeddata = resolve;
    video.onerror = () => reject(new Error("this browser cannot play the result"));
  });
  video.src = resultUrl;
  video.hidden = false;
  await playable; // "done" only once the first frame is displayable
}

async function run() {
  if (!currentFile) return;
  if (inFlight) inFlight.abort();
  const controller = new AbortController();
  inFlight = controller;
  clearResult();
  clearCompare();
  setStatus("working", `Removing the background of ${currentFile.name}…`);

  try {
    const video = isVideo(currentFile);
    const url = video ? videoUrl() : requestUrl();
    const body = formFor(currentFile, video ? "video" : "image");
    const response = await fetch(url, { method: "POST", body, headers: apiHeaders(), signal: controller.signal });
    if (controller !== inFlight) return; // a newer choice replaced this request
    if (!response.ok) {
      if (response.status === 401) {
        $("key-label").hidden = false;
        $("api-key").focus();
      }
      setStatus("error", await describeError(response));
      return;
    }
    const blob = await response.blob();
    if (controller !== inFlight) return; // a newer request replaced this one
    if (video) {
      await showVideoResult(response, blob);
    } else {
      await showResult(response, blob);
      $("compare-button").disabled = false; // compare is for photos
    }
    setStatus("done", "Done.");
  } catch (err) {
    if (err.name === "AbortError") return;
    setStatus("error", `Request failed: ${err.message}`);
  } finally {
    if (controller === inFlight) inFlight = null;
  }
}

function formFor(file, field = "image") {
  const body = new FormData();
  body.append(field, file, file.name);
  return body;
}

function apiHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

// The same photo as mask, cut-out and on colour, side by side (with the current crop and edge options).
async function compare() {
  if (!currentFile) return;
  const file = currentFile;
  clearCompare();
  $("compare-button").disabled = true;
  setStatus("working", "Comparing outputs…");
  try {
    for (const output of ["mask", "rgba", "composite"]) {
      const response = await fetch(requestUrl(output), { method: "POST", body: formFor(file), headers: apiHeaders() });
      if (file !== currentFile) return; // another photo was chosen meanwhile
      if (!response.ok) {
        setStatus("error", await describeError(response));
        return;
      }
      const url = URL.createObjectURL(await response.blob());
      compareUrls.push(url);
      const img = $("compare").querySelector(`img[data-output="${output}"]`);
      img.src = url;
      await img.decode();
      $("compare").querySelector(`span[data-meta="${output}"]`).textContent = sizeText(response);
      $("compare").hidden = false;
    }
    setStatus("done", "Done: compare the three outputs below.");
  } catch (err) {
    setStatus("error", `Request failed: ${err.message}`);
  } finally {
    $("compare-button").disabled = !currentFile;
  }
}

function forget() {
  // After a refused choice nothing of the previous image stays on screen: its size would lie.
  currentFile = null;
  $("drop-text").textContent = "Drop an image here, paste one, or choose a file";
  $("compare-button").disabled = true;
  clearOriginal();
  clearResult();
  clearCompare();
}

function choose(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/") && !isVideo(file)) {
    forget();
    setStatus("error", `${file.name} is not an image or a video.`);
    return;
  }
  currentFile = file;
  $("drop-text").textContent = file.name;
  showOriginal(file);
  run();
}

function init() {
  syncOptions();
  $("file").addEventListener("change", (e) => choose(e.target.files[0]));
  for (const id of ["output", "format", "bg-color", "engine", "refine", "decontaminate", "crop", "crop-margin"]) {
    $(id).addEventListener("change", () => { syncOptions(); run(); });
  }
  $("compare-button").addEventListener("click", compare);
  $("api-key").addEventListener("change", run);

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    choose(e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (e) => {
    const item = [...e.clipboardData.items].find((i) => i.kind === "file" && i.type.startsWith("image/"));
    if (item) choose(item.getAsFile());
  });
}

init();
