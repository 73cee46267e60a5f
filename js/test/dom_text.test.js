// Text from the kernel (titles, units, labels, status, colormap names) stays text in the DOM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { h, setText } from "../src/lib/dom.js";
import { cssGradient, parseColor } from "../src/lib/colormaps.js";
import { TextNode, installFakeDocument, markupWrites } from "./fake_dom.js";

const PAYLOADS = [
  "<img src=x onerror=alert(1)>",
  "<script>alert(2)</script>",
  "\"><svg onload=alert(3)>",
  "&lt;b&gt;not bold&lt;/b&gt;",
];

installFakeDocument();

test("h() appends string children as text nodes and sets text properties as text", () => {
  for (const p of PAYLOADS) {
    const el = h("div", { className: "ew-title", title: p, textContent: p }, p);
    assert.equal(el.childNodes.length, 2);
    assert.ok(el.childNodes.every((n) => n instanceof TextNode));
    assert.equal(el.textContent, p + p);   // the payload verbatim: not parsed, not re-escaped
    assert.equal(el.title, p);             // an attribute value, never markup
  }
  assert.deepEqual(markupWrites, []);
});

test("h() refuses properties that parse markup and handlers that are not functions", () => {
  for (const prop of ["innerHTML", "outerHTML", "srcdoc"]) {
    assert.throws(() => h("div", { [prop]: PAYLOADS[0] }), /refused/);
  }
  assert.throws(() => h("div", { onclick: "alert(1)" }), /must be a function/);
  assert.deepEqual(markupWrites, []);
});

test("setText writes a payload (or any value) as text", () => {
  const el = h("span", {});
  for (const p of PAYLOADS) {
    setText(el, p);
    assert.equal(el.textContent, p);
    assert.ok(el.childNodes[0] instanceof TextNode);
  }
  setText(el, null);
  assert.equal(el.textContent, "");
  setText(el, 3.5);
  assert.equal(el.textContent, "3.5");
  assert.deepEqual(markupWrites, []);
});

test("a colormap name or colour from the kernel cannot inject CSS", () => {
  const plain = cssGradient("viridis");
  for (const p of [...PAYLOADS, "viridis);background:url(//evil/x", "x_r", "gray_r;"]) {
    const css = cssGradient(p);
    assert.equal(css, plain, p);            // unknown names fall back to viridis
    assert.ok(!/[<>;"']|url\(/.test(css), css);
  }
  assert.deepEqual(parseColor("red;background:url(//evil)"), [255, 45, 45]);
  assert.deepEqual(parseColor("#123456\"><svg>"), [255, 45, 45]);
});

test("no widget source writes markup: innerHTML and friends appear nowhere", () => {
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src");
  const files = readdirSync(src, { recursive: true }).filter((f) => f.endsWith(".js"));
  assert.ok(files.length >= 8, String(files));
  const banned = /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser/;
  for (const f of files) {
    const code = readFileSync(path.join(src, f), "utf8").replace(/\/\/.*$/gm, "");
    assert.ok(!banned.test(code), `${f} writes markup: ${code.match(banned)}`);
  }
});
