// The zhnlp demo page: /v1/info fills the controls, /v1/annotate analyses; everything is
// drawn here (tokens, entities, an SVG arc diagram, SRL frames). No library, no network
// beyond this server. Offsets from the API count code points, so texts are indexed as
// arrays of code points (Array.from), never as UTF-16 strings.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const FONT = '16px "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif';
const TAG_FONT = '11px ui-monospace, "DejaVu Sans Mono", monospace';
const ENTITY_COLOURS = { PER: "#fde68a", LOC: "#bbf7d0", GPE: "#bbf7d0", ORG: "#bfdbfe",
  MISC: "#e9d5ff", TIME: "#fecaca", DATE: "#fecaca" };


function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function hue(label) { // labels that differ in one character (A0, A1) land far apart
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.codePointAt(0)) % 1000003;
  return Math.round((h * 137.508) % 360);
}

function entityColour(label) {
  return ENTITY_COLOURS[label] || `hsl(${hue(label)}, 80%, 85%)`;
}

// -- model info and controls ------------------------------------------------------------

async function loadInfo() {
  const model = document.getElementById("model");
  try {
    const response = await fetch("v1/info");
    const info = await response.json();
    if (!response.ok) throw new Error(info.error ? info.error.message : response.statusText);
    model.textContent = "";
    model.append(el("span", { class: "pill" }, `model ${info.model}`),
      el("span", { class: "pill" }, `zhnlp ${info.version}`));
    const box = document.getElementById("tasks");
    for (const task of info.tasks) {
      const input = el("input", { type: "checkbox", value: task, checked: true });
      box.append(el("label", { class: "task" }, input, task));
    }
    const select = document.getElementById("standard");
    for (const standard of info.standards) {
      select.append(el("option", { value: standard, selected: standard === info.default_standard },
        standard));
    }
    document.getElementById("analyse").disabled = false;
    document.body.dataset.ready = "1";
  } catch (error) {
    model.textContent = "model info unavailable";
    showError({ code: "network", message: String(error.message || error) });
  }
}

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = "";
  box.append(el("strong", {}, error.code), " ", error.message);
  box.hidden = false;
}

// -- analysis -------------------------------------------------------------------------------

async function analyse() {
  const results = document.getElementById("results");
  const button = document.getElementById("analyse");
  const status = document.getElementById("status");
  const tasks = [...document.querySelectorAll("#tasks input:checked")].map((i) => i.value);
  const body = { text: document.getElementById("text").value,
    standard: document.getElementById("standard").value || null };
  body.tasks = tasks;  // always explicit: the server's default leaves sdp out
  document.getElementById("error").hidden = true;
  button.disabled = true;
  results.dataset.state = "busy";
  status.textContent = "analysing…";
  const started = performance.now();
  try {
    const response = await fetch("v1/annotate", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await response.json();
    if (!response.ok) {
      showError(data.error || { code: String(response.status), message: response.statusText });
      results.dataset.state = "error";
      status.textContent = "";
      return;
    }
    render(data);
    status.textContent = `${Math.round(performance.now() - started)} ms`;
    results.dataset.state = "done";
  } catch (error) {
    showError({ code: "network", message: String(error.message || error) });
    results.dataset.state = "error";
    status.textContent = "";
  } finally {
    button.disabled = false;
  }
}

function render(doc) {
  const results = document.getElementById("results");
  results.textContent = "";
  const chars = Array.from(doc.text);
  if (!doc.sentences.length) {
    results.append(el("div", { class: "card empty" }, "No sentence found in this text."));
  }
  doc.sentences.forEach((sentence, index) => {
    const entities = doc.entities.filter((e) => e.start >= sentence.start && e.end <= sentence.end);
    const card = el("article", { class: "card sentence", "data-index": index });
    card.append(el("h2", {}, `Sentence ${index + 1}`,
      el("span", { class: "offsets" }, ` characters ${sentence.start}–${sentence.end}`)));
    card.append(section("Words and parts of speech", tokenChips(sentence.tokens)));
    card.append(section("Named entities", entityView(chars, sentence, entities)));
    const tree = sentence.tokens.some((t) => t.head !== null)
      ? arcDiagram(sentence.tokens, treeArcs(sentence.tokens), "dependency tree")
      : el("p", { class: "muted" }, "dep not run");
    card.append(section("Dependency tree", el("div", { class: "svg-wrap" }, tree)));
    if (sentence.tokens.some((t) => t.semantic_heads)) { // only models with an sdp head
      const graph = arcDiagram(sentence.tokens, graphArcs(sentence.tokens), "semantic graph");
      card.append(section("Semantic dependency graph", el("div", { class: "svg-wrap sdp" }, graph)));
    }
    card.append(section("Semantic roles", frames(sentence)));
    results.append(card);
  });
  const raw = el("details", { class: "card raw" }, el("summary", {}, "JSON"),
    el("pre", {}, JSON.stringify(doc, null, 1)));
  results.append(raw);
}

function section(title, body) {
  return el("section", { class: "layer" }, el("h3", {}, title), body);
}

function tokenChips(tokens) {
  const row = el("div", { class: "tokens" });
  for (const token of tokens) {
    const chip = el("span", { class: "token", "data-id": token.id, title: `${token.start}–${token.end}` },
      el("span", { class: "word" }, token.text));
    if (token.upos) {
      chip.dataset.upos = token.upos;
      chip.style.setProperty("--tag-hue", hue(token.upos));
      chip.append(el("span", { class: "tag upos" }, token.upos));
    }
    if (token.xpos) chip.append(el("span", { class: "tag xpos" }, token.xpos));
    if (token.pku) chip.append(el("span", { class: "tag pku" }, token.pku));
    row.append(chip);
  }
  return row;
}

function entityView(chars, sentence, entities) {
  const line = el("p", { class: "entities" });
  let at = sentence.start;
  for (const entity of entities) {
    if (entity.start < at) continue; // overlapping spans: keep the first
    line.append(chars.slice(at, entity.start).join(""));
    const mark = el("mark", { class: "ent", "data-label": entity.label },
      chars.slice(entity.start, entity.end).join(""), el("span", { class: "label" }, entity.label));
    mark.style.setProperty("--ent", entityColour(entity.label));
    line.append(mark);
    at = entity.end;
  }
  line.append(chars.slice(at, sentence.end).join(""));
  if (!entities.length) line.append(el("span", { class: "muted" }, "  (no entities)"));
  return line;
}

// -- the dependency tree and the semantic graph as arcs -------------------------------------

function treeArcs(tokens) { // one arc per word: its head (0: the root)
  return tokens.filter((t) => t.head !== null)
    .map((t) => ({ head: t.head, dep: t.id, label: t.deprel || "" }));
}

function graphArcs(tokens) { // a word may have several heads (semantic_heads: [[head, rel]])
  return tokens.flatMap((t) => (t.semantic_heads || [])
    .map(([head, label]) => ({ head, dep: t.id, label })));
}

let measureContext = null;

function measure(text, font) {
  if (!measureContext) measureContext = document.createElement("canvas").getContext("2d");
  measureContext.font = font;
  return measureContext.measureText(text).width;
}

function arcDiagram(tokens, allArcs, name) {
  const gap = 34, levelHeight = 30, margin = 20;
  const centres = [];
  let x = margin;
  for (const token of tokens) {
    const width = Math.max(measure(token.text, FONT), measure(token.upos || "", TAG_FONT), 22);
    centres.push(x + width / 2);
    x += width + gap;
  }
  const arcs = allArcs.filter((a) => a.head > 0)
    .map((a) => ({ ...a, lo: Math.min(a.head, a.dep), hi: Math.max(a.head, a.dep) }));
  arcs.sort((a, b) => (a.hi - a.lo) - (b.hi - b.lo));
  for (const arc of arcs) { // above every arc it spans
    arc.level = 1 + Math.max(0, ...arcs.filter((o) => o !== arc && o.level
      && o.lo >= arc.lo && o.hi <= arc.hi).map((o) => o.level));
  }
  const top = Math.max(1, ...arcs.map((a) => a.level)) + 1;
  const base = top * levelHeight + 14;
  const root = svg("svg", { class: "arcs", width: Math.ceil(x - gap + margin),
    height: base + 50, role: "img", "aria-label": name });
  const labels = [];
  for (const arc of arcs) {
    const x1 = centres[arc.head - 1] + (arc.dep > arc.head ? 4 : -4);
    const x2 = centres[arc.dep - 1] + (arc.dep > arc.head ? -4 : 4);
    const rise = arc.level * levelHeight / 0.75; // a cubic's peak is 3/4 of its control rise
    const group = svg("g", { class: "arc", "data-head": arc.head, "data-dep": arc.dep,
      "data-label": arc.label });
    group.append(svg("path", { class: "arc-line",
      d: `M${x1},${base} C${x1},${base - rise} ${x2},${base - rise} ${x2},${base - 6}` }));
    group.append(svg("path", { class: "arrow", d: `M${x2 - 4},${base - 8} L${x2 + 4},${base - 8} L${x2},${base} Z` }));
    root.append(group);
    labels.push({ x: (x1 + x2) / 2, y: base - arc.level * levelHeight, text: arc.label, group });
  }
  for (const arc of allArcs.filter((a) => a.head === 0)) {
    const cx = centres[arc.dep - 1];
    const group = svg("g", { class: "arc root", "data-head": 0, "data-dep": arc.dep,
      "data-label": arc.label });
    group.append(svg("path", { class: "arc-line", d: `M${cx},${levelHeight * 0.6} L${cx},${base - 6}` }));
    group.append(svg("path", { class: "arrow", d: `M${cx - 4},${base - 8} L${cx + 4},${base - 8} L${cx},${base} Z` }));
    root.append(group);
    labels.push({ x: cx, y: levelHeight * 0.6, text: arc.label || "root", group });
  }
  for (const label of labels) { // on top of every line
    const width = measure(label.text, TAG_FONT) + 8;
    label.group.append(svg("rect", { class: "arc-label-bg", x: label.x - width / 2, y: label.y - 8,
      width, height: 15, rx: 3 }));
    label.group.append(svg("text", { class: "arc-label", x: label.x, y: label.y + 3.5 }, label.text));
  }
  tokens.forEach((token, i) => {
    root.append(svg("text", { class: "arc-word", x: centres[i], y: base + 22, "data-id": token.id },
      token.text));
    if (token.upos) root.append(svg("text", { class: "arc-tag", x: centres[i], y: base + 40 }, token.upos));
  });
  return root;
}

// -- semantic role frames ---------------------------------------------------------------------

function frames(sentence) {
  if (!sentence.predicates.length) {
    return el("p", { class: "muted" }, "no predicates (or srl not run)");
  }
  const list = el("div", { class: "frames" });
  for (const predicate of sentence.predicates) {
    const roles = new Map(predicate.arguments.map((a) => [a.id, a.role]));
    // the words of each argument's span (token ids span[0]+1 .. span[1]) besides its head
    const spanRoles = new Map();
    for (const a of predicate.arguments) {
      for (let id = a.span[0] + 1; id <= a.span[1]; id++) if (id !== a.id) spanRoles.set(id, a.role);
    }
    const frame = el("div", { class: "frame", "data-predicate": predicate.id });
    frame.append(el("span", { class: "frame-name" }, predicate.text));
    const row = el("div", { class: "frame-tokens" });
    for (const token of sentence.tokens) {
      let cls = "frame-token", role = "";
      if (token.id === predicate.id) { cls += " pred"; role = "V"; }
      else if (roles.has(token.id)) { cls += " arg"; role = roles.get(token.id); }
      const spanRole = role ? "" : spanRoles.get(token.id) || "";
      if (spanRole) cls += " arg-span";
      const chip = el("span", { class: cls, "data-id": token.id },
        el("span", { class: "role" }, role || "\u00a0"),
        el("span", { class: "word" }, token.text));
      if (role && role !== "V") {
        chip.dataset.role = role;
        chip.style.setProperty("--role-hue", hue(role));
      } else if (spanRole) {
        chip.dataset.spanOf = spanRole;
        chip.title = `in the ${spanRole} span`;
        chip.style.setProperty("--role-hue", hue(spanRole));
      }
      row.append(chip);
    }
    frame.append(row);
    list.append(frame);
  }
  return list;
}

// -- wiring -----------------------------------------------------------------------------------

document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  analyse();
});
document.getElementById("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (!document.getElementById("analyse").disabled) analyse();
  }
});
loadInfo();
