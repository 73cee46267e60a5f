// Array codec, the JavaScript half of eelswidgets/widgets/_codec.py.
//
// Python sends every array as {buffer, dtype, shape}; ipywidgets hands the buffer to us as a
// DataView (sometimes an ArrayBuffer or a typed array). Typed arrays need their byte offset
// to be a multiple of the element size, so an unaligned buffer is copied once.

const TYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
};

const NAMES = new Map(Object.entries(TYPES).map(([k, v]) => [v, k]));

/** Number of elements of an array of this shape (1 for a scalar shape []). */
export function shapeSize(shape) {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/**
 * Typed array over `buf` (DataView, ArrayBuffer or typed array) with element type `dtype`.
 * Copies only when the byte offset is not aligned to the element size.
 */
export function typedView(buf, dtype) {
  const T = TYPES[dtype];
  if (!T) throw new TypeError(`unsupported dtype ${dtype}`);
  let ab, off, len;
  if (buf instanceof ArrayBuffer) {
    ab = buf; off = 0; len = buf.byteLength;
  } else if (ArrayBuffer.isView(buf)) {
    ab = buf.buffer; off = buf.byteOffset; len = buf.byteLength;
  } else {
    throw new TypeError("array buffer must be a DataView, ArrayBuffer or typed array");
  }
  const size = T.BYTES_PER_ELEMENT;
  if (len % size !== 0) throw new RangeError(`buffer of ${len} bytes is not a whole number of ${dtype}`);
  if (off % size !== 0) return new T(ab.slice(off, off + len));
  return new T(ab, off, len / size);
}

/**
 * Decode {buffer, dtype, shape} into {data: TypedArray, dtype, shape}; null/undefined -> null.
 * Throws when the buffer length does not match the shape.
 */
export function decodeArray(obj) {
  if (obj === null || obj === undefined) return null;
  const { buffer, dtype } = obj;
  const shape = Array.from(obj.shape || []);
  const data = typedView(buffer, dtype);
  if (data.length !== shapeSize(shape)) {
    throw new RangeError(`array of shape [${shape}] needs ${shapeSize(shape)} values, got ${data.length}`);
  }
  return { data, dtype, shape };
}

/** Encode a typed array (and its shape, default 1-D) as {buffer: DataView, dtype, shape}. */
export function encodeArray(data, shape) {
  const dtype = NAMES.get(data.constructor);
  if (!dtype) throw new TypeError("encodeArray needs a typed array");
  const shp = shape ? Array.from(shape) : [data.length];
  if (shapeSize(shp) !== data.length) throw new RangeError("shape does not match the data");
  return { buffer: new DataView(data.buffer, data.byteOffset, data.byteLength), dtype, shape: shp };
}
