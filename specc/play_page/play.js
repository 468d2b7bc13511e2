// specc play: draws on an image model or types to a tagger, and shows what the server's NumPy
// interpreter computes (POST /play/think). No build step and nothing from elsewhere.
"use strict";

const PAGE_SIDE = 288;      // CSS pixels of the drawing's longer side, as far as the screen allows
const BRUSH = 0.14;         // stroke width as a share of the image's shorter side, like the built-in X and O strokes
const MOVE_EVERY_MS = 90;   // at most one request per this while a stroke is drawn
const TYPE_WAIT_MS = 120;   // a pause in typing this long asks again
const MAP_SIDE = 96;        // CSS pixels of a feature map's longer side
// matplotlib's RdBu_r (ColorBrewer's RdBu, reversed), as specc show colours feature maps: from -1 to 1 in steps of 0.2
const DIVERGING = [[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
                   [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]];
// tag colours by class index; a no-slot class (other, O) is grey
const TAG_COLOURS = ["#cfe3fa", "#fde0b8", "#d4f0c9", "#f6cde3", "#e2d6f5", "#fff2a8", "#c9eeea", "#f3d2c4"];
const NO_SLOT = new Set(["other", "O"]);

const $ = (id) => document.getElementById(id);
let model = null;            // GET /play/model
let busy = false, again = false;

async function fetchJSON(url, body) {
  const response = await fetch(url, body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `${response.status}`);
  return answer;
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
}

// ---- asking the server: one request at a time, the latest drawing or text once it is free ----

async function ask(read) {
  document.body.dataset.settled = "false";  // "true" once the latest drawing or text is answered (for tests)
  if (busy) { again = true; return; }
  busy = true;
  try {
    const thought = await fetchJSON("/play/think", read());
    showError(null);
    showThought(thought);
  } catch (error) {
    showError(error);
  } finally {
    busy = false;
    if (again) { again = false; ask(read); } else document.body.dataset.settled = "true";
  }
}

// ---- what the model is ----

function percent(value) { return `${(100 * value).toFixed(1)}%`; }

function describeScore(score) {
  if (!score) return "no held-out score (no training history with these weights)";
  const parts = score.scores.map((s) => `${s.output ? s.output + " " : ""}${s.metric} ${percent(s.value)}`);
  // the exported model's score (heldout.json) names its split and size; history.json's, validation only
  const unit = model.kind === "tagger" ? "sentences" : "samples";
  const count = score.count ? `, ${score.count.toLocaleString("en")} ${unit}` : "";
  return `held-out (${score.split}${count}) ${parts.join(", ")} at epoch ${score.epoch} (${score.why})`;
}

function showModel() {
  document.title = `specc play: ${model.name}`;
  $("title").textContent = `specc play: ${model.name}`;
  const shape = model.kind === "image" ? model.input.shape.join("x") : "seq token";  // as the spec declares it
  $("facts").textContent = `${model.parameters.toLocaleString("en")} parameters · input ${model.input.name}: ` +
    `${shape} · ${model.weights} · ${describeScore(model.score)}`;
  $("spec").textContent = model.spec;
}

// ---- an image model: a canvas of the model's pixels, scaled up ----

function setUpDrawing() {
  const [, height, width] = model.input.shape;
  const cell = Math.max(2, Math.floor(PAGE_SIDE / Math.max(height, width)));
  const canvas = $("canvas");
  canvas.width = width * cell;
  canvas.height = height * cell;
  // the strokes, smooth, at the canvas' resolution; each model pixel is the ink over its cell
  const ink = document.createElement("canvas");
  ink.width = canvas.width;
  ink.height = canvas.height;
  const pen = ink.getContext("2d", {willReadFrequently: true});
  pen.lineCap = pen.lineJoin = "round";
  pen.strokeStyle = "#fff";
  pen.lineWidth = Math.max(1.2, BRUSH * Math.min(height, width)) * cell;
  const {background, ink: inkValue} = model.range;
  let image = blank();
  let last = null, lastAsked = 0;

  function blank() { return Array.from({length: height}, () => new Array(width).fill(background)); }

  function pixels() {  // the ink's coverage of each cell, mapped to the model's background..ink values
    const data = pen.getImageData(0, 0, ink.width, ink.height).data;
    return Array.from({length: height}, (_, y) => Array.from({length: width}, (_, x) => {
      let sum = 0;
      for (let dy = 0; dy < cell; dy++) {
        const row = ((y * cell + dy) * ink.width + x * cell) * 4;
        for (let dx = 0; dx < cell; dx++) sum += data[row + 4 * dx];
      }
      const cover = sum / (255 * cell * cell);
      return Math.round((background + (inkValue - background) * cover) * 1e4) / 1e4;
    }));
  }

  function paint() {  // the model's pixels: ink dark on white
    const context = canvas.getContext("2d");
    const span = (inkValue - background) || 1;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
      const level = Math.min(1, Math.max(0, (image[y][x] - background) / span));
      const grey = Math.round(255 * (1 - level));
      context.fillStyle = `rgb(${grey},${grey},${grey})`;
      context.fillRect(x * cell, y * cell, cell, cell);
    }
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  }

  function update(now) {
    image = pixels();
    paint();
    if (now) { lastAsked = performance.now(); ask(() => ({image})); }
  }

  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    pen.beginPath();
    pen.moveTo(...last);
    pen.lineTo(...last);  // a tap leaves a dot
    pen.stroke();
    update(false);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const here = point(event);
    pen.beginPath();
    pen.moveTo(...last);
    pen.lineTo(...here);
    pen.stroke();
    last = here;
    update(performance.now() - lastAsked >= MOVE_EVERY_MS);
  });
  const end = () => { if (last) { last = null; update(true); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", () => {
    pen.clearRect(0, 0, ink.width, ink.height);
    update(true);
  });
  $("draw-note").textContent = `draw with the mouse or a finger: ${height}x${width} pixels, ` +
    `${background} background to ${inkValue} ink`;
  $("draw").hidden = false;
  $("maps").hidden = false;
  paint();
}

// ---- a tagger: a text box, each word with its tag ----

function setUpTyping() {
  const box = $("text");
  let timer = null;
  box.maxLength = 1000;
  box.addEventListener("input", () => {
    clearTimeout(timer);
    if (!box.value.trim()) { $("tags").replaceChildren(); return; }
    document.body.dataset.settled = "false";  // a request is due
    timer = setTimeout(() => ask(() => ({text: box.value})), TYPE_WAIT_MS);
  });
  $("type").hidden = false;
  $("thinks").hidden = true;  // until a sentence classifier answers (a tagger's answer is its tags)
  const legend = Object.entries(model.classes).flatMap(([output, classes]) => classes.map((tag) => {
    const item = document.createElement("span");
    item.className = "tag";
    item.textContent = tag;
    item.style.background = tagColour(output, tag);
    return item;
  }));
  $("legend").replaceChildren(...legend);
}

function tagColour(output, tag) {
  if (NO_SLOT.has(tag)) return "#eeeeee";
  const index = model.classes[output].indexOf(tag);
  return TAG_COLOURS[index % TAG_COLOURS.length];
}

function showTags(words, tagged) {
  const spans = words.map((word, k) => {
    const span = document.createElement("span");
    span.className = "tag";
    const shown = document.createElement("b");
    shown.textContent = word;
    span.append(shown);
    for (const out of tagged) {
      const small = document.createElement("small");
      small.textContent = `${tagged.length > 1 ? out.name + " " : ""}${out.tags[k]} ${out.values[k].toFixed(2)}`;
      span.append(small);
    }
    if (tagged.length) {
      span.dataset.tag = tagged[0].tags[k];
      span.style.background = tagColour(tagged[0].name, tagged[0].tags[k]);
    }
    span.dataset.word = word;
    return span;
  });
  $("tags").replaceChildren(...spans);
}

// ---- what the network thinks ----

function showBars(outputs) {
  const blocks = outputs.map((out) => {
    const block = document.createElement("div");
    block.className = "output";
    if (outputs.length > 1) {
      const title = document.createElement("h3");
      title.textContent = out.name;
      block.append(title);
    }
    const best = out.values.indexOf(Math.max(...out.values));
    const low = Math.min(0, ...out.values), high = Math.max(1, ...out.values);  // scores may leave 0..1
    out.classes.forEach((name, k) => {
      const bar = document.createElement("div");
      bar.className = k === best ? "bar best" : "bar";
      bar.dataset.class = name;
      bar.dataset.value = out.values[k];
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${(100 * (out.values[k] - low) / (high - low)).toFixed(1)}%`;
      track.append(fill);
      const number = document.createElement("span");
      number.className = "num";
      number.textContent = out.values[k].toFixed(2);
      bar.append(label, track, number);
      block.append(bar);
    });
    return block;
  });
  $("bars").replaceChildren(...blocks);
}

function diverging(value, scale) {  // blue below zero, white at zero, red above; +-scale at the ends
  const t = scale ? Math.max(-1, Math.min(1, value / scale)) : 0;
  const at = (t + 1) * (DIVERGING.length - 1) / 2;
  const k = Math.min(DIVERGING.length - 2, Math.floor(at)), f = at - k;
  const [r, g, b] = DIVERGING[k].map((low, i) => Math.round(low + (DIVERGING[k + 1][i] - low) * f));
  return `rgb(${r},${g},${b})`;
}

function showMaps(maps) {
  const layers = maps.map((map) => {
    const scale = Math.max(...map.channels.flat(2).map(Math.abs));
    const block = document.createElement("div");
    block.className = "layer";
    block.dataset.layer = map.layer;
    const title = document.createElement("h3");
    title.textContent = `${map.layer}: ${map.call} (line ${map.line}) · scale ±${scale.toPrecision(3)}`;
    const row = document.createElement("div");
    row.className = "channels";
    map.channels.forEach((channel, c) => {
      const h = channel.length, w = channel[0].length;
      const cell = Math.max(1, Math.floor(MAP_SIDE / Math.max(h, w)));
      const canvas = document.createElement("canvas");
      canvas.width = w * cell;
      canvas.height = h * cell;
      const context = canvas.getContext("2d");
      channel.forEach((line, y) => line.forEach((value, x) => {
        context.fillStyle = diverging(value, scale);
        context.fillRect(x * cell, y * cell, cell, cell);
      }));
      const figure = document.createElement("span");
      figure.className = "channel";
      const caption = document.createElement("span");
      caption.textContent = `[${c}]`;
      figure.append(canvas, caption);
      row.append(figure);
    });
    block.append(title, row);
    return block;
  });
  $("layers").replaceChildren(...layers);
}

function showThought(thought) {
  $("answer").textContent = thought.answer || "";
  $("thinks").hidden = !thought.outputs.length;
  showBars(thought.outputs);
  if (thought.maps) showMaps(thought.maps);
  if (thought.words) showTags(thought.words, thought.tagged);
}

async function start() {
  try {
    model = await fetchJSON("/play/model");
  } catch (error) {
    showError(error);
    return;
  }
  showModel();
  if (model.kind === "image") setUpDrawing(); else setUpTyping();
  document.body.dataset.ready = "true";
}

start();
