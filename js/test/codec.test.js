import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeArray, encodeArray, shapeSize, typedView } from "../src/lib/codec.js";

test("decodes a DataView of float32 with its shape", () => {
  const src = new Float32Array([1.5, NaN, -2, 4, 5, 6]);
  const dv = new DataView(src.buffer);
  const a = decodeArray({ buffer: dv, dtype: "float32", shape: [2, 3] });
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.dtype, "float32");
  assert.ok(a.data instanceof Float32Array);
  assert.ok(Number.isNaN(a.data[1]));
  assert.equal(a.data[5], 6);
  // no copy when aligned: it is a view of the same memory
  assert.equal(a.data.buffer, src.buffer);
});

test("copies an unaligned buffer instead of failing", () => {
  const bytes = new Uint8Array(1 + 8);
  new DataView(bytes.buffer).setFloat32(1, 3.25, true);
  new DataView(bytes.buffer).setFloat32(5, -7, true);
  const dv = new DataView(bytes.buffer, 1, 8);
  const a = decodeArray({ buffer: dv, dtype: "float32", shape: [2] });
  assert.deepEqual(Array.from(a.data), [3.25, -7]);
  assert.notEqual(a.data.buffer, bytes.buffer);
  const b = typedView(new DataView(new ArrayBuffer(13), 1, 12), "int32");
  assert.equal(b.length, 3);
});

test("int32, uint8, ArrayBuffer and typed-array inputs", () => {
  const i = decodeArray({ buffer: new Int32Array([7, -1]).buffer, dtype: "int32", shape: [2] });
  assert.deepEqual(Array.from(i.data), [7, -1]);
  const u = decodeArray({ buffer: new Uint8Array([1, 2, 3, 4, 5, 6]), dtype: "uint8", shape: [1, 2, 3] });
  assert.deepEqual(Array.from(u.data), [1, 2, 3, 4, 5, 6]);
  const e = decodeArray({ buffer: new DataView(new ArrayBuffer(0)), dtype: "int32", shape: [0] });
  assert.equal(e.data.length, 0);
});

test("null stays null; bad input throws", () => {
  assert.equal(decodeArray(null), null);
  assert.equal(decodeArray(undefined), null);
  assert.throws(() => decodeArray({ buffer: new ArrayBuffer(8), dtype: "float32", shape: [3] }), RangeError);
  assert.throws(() => decodeArray({ buffer: new ArrayBuffer(8), dtype: "complex", shape: [1] }), TypeError);
  assert.throws(() => typedView(new ArrayBuffer(6), "float32"), RangeError);
  assert.throws(() => typedView([1, 2], "float32"), TypeError);
});

test("encode -> decode round trip keeps values, dtype and shape", () => {
  const data = new Int32Array([3, 1, 4, 1, 5, 9]);
  const enc = encodeArray(data, [3, 2]);
  assert.ok(enc.buffer instanceof DataView);
  assert.equal(enc.dtype, "int32");
  const dec = decodeArray(enc);
  assert.deepEqual(dec.shape, [3, 2]);
  assert.deepEqual(Array.from(dec.data), Array.from(data));
  assert.deepEqual(encodeArray(new Float32Array(4)).shape, [4]);
  assert.throws(() => encodeArray([1, 2]), TypeError);
  assert.throws(() => encodeArray(new Float32Array(4), [3]), RangeError);
  assert.equal(shapeSize([]), 1);
  assert.equal(shapeSize([2, 0, 5]), 0);
});
