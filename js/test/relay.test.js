import { test } from "node:test";
import assert from "node:assert/strict";
import { relay } from "../src/lib/relay.js";

// A Backbone-like model: synchronous change events, saves recorded in one shared log.
class FakeModel {
  constructor(name, attrs, log) {
    this.name = name;
    this.attrs = { ...attrs };
    this.log = log;
    this.handlers = new Map();
  }
  get(k) { return this.attrs[k]; }
  set(k, v) {
    if (JSON.stringify(this.attrs[k]) === JSON.stringify(v)) return;
    this.attrs[k] = v;
    for (const h of [...(this.handlers.get(`change:${k}`) || [])]) h(this, v);
  }
  on(ev, h) { if (!this.handlers.has(ev)) this.handlers.set(ev, []); this.handlers.get(ev).push(h); }
  off(ev, h) { this.handlers.set(ev, (this.handlers.get(ev) || []).filter((x) => x !== h)); }
  save_changes() { this.log.push(this.name); }
}

function setup() {
  const log = [];
  const hub = new FakeModel("hub", { pixel: [0, 0], indices: [] }, log);
  const a = new FakeModel("a", { pixel: [0, 0], selection: [] }, log);
  const b = new FakeModel("b", { pixel: [0, 0], selection: [] }, log);
  const m = new FakeModel("m", { pixel: [0, 0] }, log);   // a view tied by its pixel only
  const untie = relay(hub, [
    { model: a, pixel: "pixel", indices: "selection" },
    { model: b, pixel: "pixel", indices: "selection" },
    { model: m, pixel: "pixel", indices: null },
  ]);
  return { log, hub, a, b, m, untie };
}

test("a click on a view sends only the hub to the kernel and moves every view", () => {
  const { log, hub, a, b, m } = setup();
  a.set("pixel", [3, 4]);
  assert.deepEqual(log, ["hub"]);
  assert.deepEqual(hub.get("pixel"), [3, 4]);
  assert.deepEqual(b.get("pixel"), [3, 4]);
  assert.deepEqual(m.get("pixel"), [3, 4]);
});

test("a change of the hub reaches every view and sends nothing back", () => {
  const { log, hub, a, b, m } = setup();
  hub.set("pixel", [5, 6]);
  hub.set("indices", [1, 2]);
  for (const v of [a, b, m]) assert.deepEqual(v.get("pixel"), [5, 6]);
  assert.deepEqual(a.get("selection"), [1, 2]);
  assert.deepEqual(b.get("selection"), [1, 2]);
  assert.equal(m.get("selection"), undefined);   // not tied by indices
  assert.deepEqual(log, []);
});

test("selections relay like pixels and nothing loops", () => {
  const { log, hub, a, b, m } = setup();
  b.set("selection", [7]);
  assert.deepEqual(hub.get("indices"), [7]);
  assert.deepEqual(a.get("selection"), [7]);
  assert.deepEqual(m.get("pixel"), [0, 0]);
  assert.deepEqual(log, ["hub"]);
});

test("untie stops the relay", () => {
  const { log, hub, a, b, untie } = setup();
  untie();
  a.set("pixel", [9, 9]);
  hub.set("pixel", [1, 1]);
  assert.deepEqual(b.get("pixel"), [0, 0]);
  assert.deepEqual(log, []);
  assert.equal(hub.handlers.get("change:pixel").length, 0);
});
