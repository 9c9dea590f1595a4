"""The rating sheet's inline style and script (kept as text: the page must be one offline file)."""

SHEET_CSS = """
header.bar { position: sticky; top: 0; z-index: 2; background: var(--paper); border-bottom: 1px solid var(--line);
             padding: 10px 24px; display: flex; flex-wrap: wrap; align-items: center; gap: 10px 22px; }
header.bar h1 { font-size: 18px; margin: 0; }
header.bar progress { width: 220px; height: 14px; }
#progress-text { font-variant-numeric: tabular-nums; }
button.save { font: inherit; font-weight: 600; padding: 6px 16px; border-radius: 6px; border: 1px solid #1a7f37;
              background: #1f883d; color: #fff; cursor: pointer; }
button.save:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
#saved { color: var(--muted); }
.help { font-size: 12px; color: var(--muted); flex-basis: 100%; }
kbd { font: 11px ui-monospace, monospace; border: 1px solid var(--line); border-bottom-width: 2px; border-radius: 4px;
      padding: 0 4px; background: var(--wash); color: var(--ink); }
main.cards { display: flex; flex-direction: column; gap: 14px; }
article.card { background: var(--paper); border: 1px solid var(--line); border-left: 6px solid var(--line);
               border-radius: 6px; padding: 10px 14px; display: flex; flex-wrap: wrap; gap: 12px 24px;
               scroll-margin-top: 120px; }
article.card.partial { border-left-color: #d4a72c; }
article.card.done { border-left-color: #1f883d; }
article.card.current { box-shadow: 0 0 0 2px #0969da; }
article.card h2 { font-size: 14px; margin: 0 0 6px; border: 0; padding: 0; flex-basis: 100%; }
.pics { display: flex; gap: 12px; align-items: flex-start; flex-wrap: wrap; }
.choices { display: flex; flex-direction: column; gap: 10px; min-width: 300px; }
fieldset { border: 0; padding: 0; margin: 0; }
legend { font-weight: 600; padding: 0; margin-bottom: 3px; }
.options { display: flex; gap: 4px; }
.options label { position: relative; cursor: pointer; }
.options input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.options span { display: inline-block; min-width: 40px; padding: 5px 10px; text-align: center; border-radius: 5px;
                border: 1px solid var(--line); background: var(--wash); }
.options input:checked + span { background: var(--c, #59636e); color: var(--ink-c, #fff); border-color: #1f2328;
                                font-weight: 700; }
.options input:focus-visible + span { outline: 3px solid #0969da; outline-offset: 1px; }
.model { font-size: 12px; color: var(--muted); }
"""

SHEET_JS = r"""
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("sheet-data").textContent);
  const cards = Array.from(document.querySelectorAll("article.card"));
  const storeKey = "ames-batch-rating-sheet:" + data.id;
  let store = null;
  try { store = window.localStorage; store.getItem(storeKey); } catch (e) { store = null; }
  let current = 0;

  const choice = (card, task) => {
    const input = card.querySelector(`input[data-task="${task}"]:checked`);
    return input ? input.value : "";
  };
  const choose = (card, task, value) => {
    const input = card.querySelector(`input[data-task="${task}"][value="${value}"]`);
    if (input) input.checked = true;
  };

  function update() {
    let done = 0, partly = 0;
    const saved = {};
    for (const card of cards) {
      const values = data.tasks.map((t) => choice(card, t));
      const n = values.filter((v) => v !== "").length;
      card.classList.toggle("done", n === data.tasks.length);
      card.classList.toggle("partial", n > 0 && n < data.tasks.length);
      if (n === data.tasks.length) done += 1; else if (n > 0) partly += 1;
      if (n > 0) saved[card.dataset.key] = values;
    }
    document.getElementById("progress").value = done;
    document.getElementById("progress-text").textContent =
      `${done} of ${cards.length} cells rated` + (partly ? `, ${partly} partly` : "");
    if (store) {
      try { store.setItem(storeKey, JSON.stringify(saved)); } catch (e) { /* full or disabled: keep going */ }
    }
  }

  function restore() {
    if (!store) return;
    let saved = {};
    try { saved = JSON.parse(store.getItem(storeKey) || "{}") || {}; } catch (e) { saved = {}; }
    for (const card of cards) {
      const values = saved[card.dataset.key];
      if (Array.isArray(values)) data.tasks.forEach((t, i) => choose(card, t, values[i] || ""));
    }
  }

  const quote = (v) => { v = String(v); return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; };
  function csv() {
    const lines = [data.columns.map(quote).join(",")];
    cards.forEach((card, i) => {
      const key = data.cells[i];
      lines.push([key.plate, key.well, key.field, key.label, ...data.tasks.map((t) => choice(card, t))]
        .map(quote).join(","));
    });
    return lines.join("\n") + "\n";
  }

  function save() {
    const url = URL.createObjectURL(new Blob([csv()], { type: "text/csv;charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = data.filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    document.getElementById("saved").textContent = `saved ${data.filename} at ${new Date().toLocaleTimeString()}`;
  }

  function focusCard(i, scroll) {
    current = Math.max(0, Math.min(cards.length - 1, i));
    cards.forEach((c, j) => c.classList.toggle("current", j === current));
    if (scroll) cards[current].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("change", (e) => { if (e.target.matches("input[data-task]")) update(); });
  document.addEventListener("focusin", (e) => {
    const card = e.target.closest("article.card");
    if (card) focusCard(cards.indexOf(card), false);
  });
  document.addEventListener("click", (e) => {
    const card = e.target.closest("article.card");
    if (card) focusCard(cards.indexOf(card), false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || !cards.length || e.target.closest("button")) return;
    const card = cards[current];
    const key = (e.shiftKey ? "Shift+" : "") + (/^Digit\d$/.test(e.code) ? e.code.slice(5) : e.key.toLowerCase());
    const hit = data.keys[key];
    if (hit) { choose(card, hit[0], hit[1]); update(); e.preventDefault(); return; }
    if (key === "0") { data.tasks.forEach((t) => choose(card, t, "")); update(); e.preventDefault(); }
    else if (key === "j" || key === "enter") { focusCard(current + 1, true); e.preventDefault(); }
    else if (key === "k") { focusCard(current - 1, true); e.preventDefault(); }
  });
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("progress").max = cards.length;

  restore();
  focusCard(0, false);
  update();
})();
"""
