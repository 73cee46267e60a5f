// Point renderers for the latent scatter: WebGL (one draw call per pass) and Canvas2D
// (direct ImageData writes, which beats software-emulated WebGL by far).
//
// Both draw the same picture from the same inputs:
//   x, y      Float32Array point coordinates (data space)
//   colors    Uint32Array packed RGBA per point (ImageData byte order)
//   state     Uint8Array per point: 0 normal, 1 dimmed (not selected while a selection
//             exists), 2 selected, 255 hidden (NaN coordinates)
// Dimmed points are drawn first, the others on top of them.

export const STATE_NORMAL = 0;
export const STATE_DIM = 1;
export const STATE_SELECTED = 2;
export const STATE_HIDDEN = 255;
const DIM_MIX = 0.78; // share of white mixed into a dimmed point

/** True when the WebGL context renders in software (SwiftShader, llvmpipe, ...). */
export function isSoftwareGL(gl) {
  try {
    const ext = gl.getExtension("WEBGL_debug_renderer_info");
    const name = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(String(name));
  } catch (err) {
    return false;
  }
}

/** Offsets (dx, dy) of the device pixels covered by a point of diameter d device px. */
export function stampOffsets(d) {
  const size = Math.max(1, Math.round(d));
  const lo = -Math.floor((size - 1) / 2);
  const hi = lo + size - 1;
  const out = [];
  const c = (lo + hi) / 2;
  const r2 = (size / 2) * (size / 2) + 0.25;
  for (let dy = lo; dy <= hi; dy++) {
    for (let dx = lo; dx <= hi; dx++) {
      if (size <= 3 || (dx - c) * (dx - c) + (dy - c) * (dy - c) <= r2) out.push(dx, dy);
    }
  }
  return Int32Array.from(out);
}

/** Canvas2D renderer: writes every point into an ImageData buffer. */
export class CanvasRenderer {
  constructor(canvas) {
    this.kind = "canvas";
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.image = null;
    this.dimColors = null;
  }

  setPoints(x, y) {
    this.x = x;
    this.y = y;
  }

  setState(state) {
    this.state = state;
  }

  setColors(colors) {
    this.colors = colors;
    const dim = new Uint32Array(colors.length);
    for (let i = 0; i < colors.length; i++) dim[i] = mixWhite(colors[i], DIM_MIX);
    this.dimColors = dim;
  }

  draw(view, pointSize) {
    const { x, y, state } = this;
    const W = this.canvas.width, H = this.canvas.height;
    if (!x || !y || !state || !this.colors) {
      this.ctx.clearRect(0, 0, W, H);
      return;
    }
    if (!this.image || this.image.width !== W || this.image.height !== H) {
      this.image = this.ctx.createImageData(W, H);
      this.u32 = new Uint32Array(this.image.data.buffer);
    }
    const u32 = this.u32;
    u32.fill(0);
    const stamp = stampOffsets(pointSize);
    const ns = stamp.length;
    const kx = W / (view.x1 - view.x0), ky = H / (view.y1 - view.y0);
    const { x0, y1 } = view;
    const n = Math.min(x.length, y.length, state.length, this.colors.length);
    const colors = this.colors, dim = this.dimColors;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < n; i++) {
        const s = state[i];
        if (s === STATE_HIDDEN || (s === STATE_DIM) !== (pass === 0)) continue;
        const px = Math.floor((x[i] - x0) * kx);
        const py = Math.floor((y1 - y[i]) * ky);
        if (px < -8 || py < -8 || px >= W + 8 || py >= H + 8) continue;
        const c = pass === 0 ? dim[i] : colors[i];
        for (let k = 0; k < ns; k += 2) {
          const qx = px + stamp[k], qy = py + stamp[k + 1];
          if (qx >= 0 && qy >= 0 && qx < W && qy < H) u32[qy * W + qx] = c;
        }
      }
    }
    this.ctx.putImageData(this.image, 0, 0);
  }

  destroy() {}
}

function mixWhite(c, t) {
  const r = c & 255, g = (c >>> 8) & 255, b = (c >>> 16) & 255;
  const m = (v) => Math.round(v + (255 - v) * t);
  return ((255 << 24) | (m(b) << 16) | (m(g) << 8) | m(r)) >>> 0;
}

const VS = `
attribute vec2 a_pos;
attribute vec4 a_color;
attribute float a_state;
uniform vec4 u_view;     // x0, x1, y0, y1
uniform float u_size;
uniform float u_pass;    // 0: dimmed points, 1: the others
varying vec4 v_color;
void main() {
  bool dim = abs(a_state - 1.0) < 0.5;
  bool hidden = a_state > 200.0;
  bool draw = !hidden && ((u_pass < 0.5) == dim);
  vec2 p = vec2((a_pos.x - u_view.x) / (u_view.y - u_view.x),
                (a_pos.y - u_view.z) / (u_view.w - u_view.z)) * 2.0 - 1.0;
  gl_Position = draw ? vec4(p, 0.0, 1.0) : vec4(2.0, 2.0, 2.0, 1.0);
  gl_PointSize = draw ? u_size : 0.0;
  v_color = dim ? mix(a_color, vec4(1.0), ${DIM_MIX.toFixed(3)}) : a_color;
}`;

const FS = `
precision mediump float;
varying vec4 v_color;
uniform float u_round;
void main() {
  vec2 c = gl_PointCoord - 0.5;
  if (u_round > 0.5 && dot(c, c) > 0.25) discard;
  gl_FragColor = vec4(v_color.rgb, 1.0);
}`;

/** WebGL renderer: positions, colours and states as vertex attributes, two passes. */
export class WebGLRenderer {
  constructor(canvas, gl) {
    this.kind = "webgl";
    this.canvas = canvas;
    this.gl = gl;
    const prog = gl.createProgram();
    for (const [type, src] of [[gl.VERTEX_SHADER, VS], [gl.FRAGMENT_SHADER, FS]]) {
      const sh = gl.createShader(type);
      gl.shaderSource(sh, src);
      gl.compileShader(sh);
      if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) {
        throw new Error(`scatter shader: ${gl.getShaderInfoLog(sh)}`);
      }
      gl.attachShader(prog, sh);
    }
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) {
      throw new Error(`scatter program: ${gl.getProgramInfoLog(prog)}`);
    }
    this.prog = prog;
    this.loc = {
      pos: gl.getAttribLocation(prog, "a_pos"),
      color: gl.getAttribLocation(prog, "a_color"),
      state: gl.getAttribLocation(prog, "a_state"),
      view: gl.getUniformLocation(prog, "u_view"),
      size: gl.getUniformLocation(prog, "u_size"),
      pass: gl.getUniformLocation(prog, "u_pass"),
      round: gl.getUniformLocation(prog, "u_round"),
    };
    this.buf = { pos: gl.createBuffer(), color: gl.createBuffer(), state: gl.createBuffer() };
    this.n = 0;
    const range = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE);
    this.maxPointSize = range ? range[1] : 64;
  }

  setColors(colors) {
    const gl = this.gl;
    this.nColors = colors.length;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.color);
    gl.bufferData(gl.ARRAY_BUFFER, new Uint8Array(colors.buffer, colors.byteOffset, colors.byteLength), gl.STATIC_DRAW);
  }

  setPoints(x, y) {
    const n = Math.min(x.length, y.length);
    const xy = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const a = x[i], b = y[i];
      // NaN positions are hidden by their state; keep the attribute finite
      xy[2 * i] = a - a === 0 ? a : 0;
      xy[2 * i + 1] = b - b === 0 ? b : 0;
    }
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.pos);
    gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
    this.n = n;
  }

  setState(state) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.state);
    gl.bufferData(gl.ARRAY_BUFFER, state, gl.DYNAMIC_DRAW);
    this.nState = state.length;
  }

  draw(view, pointSize) {
    const gl = this.gl;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(this.prog);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.pos);
    gl.enableVertexAttribArray(this.loc.pos);
    gl.vertexAttribPointer(this.loc.pos, 2, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.color);
    gl.enableVertexAttribArray(this.loc.color);
    gl.vertexAttribPointer(this.loc.color, 4, gl.UNSIGNED_BYTE, true, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.state);
    gl.enableVertexAttribArray(this.loc.state);
    gl.vertexAttribPointer(this.loc.state, 1, gl.UNSIGNED_BYTE, false, 0, 0);
    gl.uniform4f(this.loc.view, view.x0, view.x1, view.y0, view.y1);
    const size = Math.min(this.maxPointSize, Math.max(1, Math.round(pointSize)));
    gl.uniform1f(this.loc.size, size);
    gl.uniform1f(this.loc.round, size > 3 ? 1 : 0);
    const n = Math.min(this.n, this.nState || 0, this.nColors || 0);
    if (!n) return;
    for (let pass = 0; pass < 2; pass++) {
      gl.uniform1f(this.loc.pass, pass);
      gl.drawArrays(gl.POINTS, 0, n);
    }
  }

  destroy() {
    const gl = this.gl;
    for (const b of Object.values(this.buf)) gl.deleteBuffer(b);
    gl.deleteProgram(this.prog);
  }
}

/**
 * Make a renderer on `canvas`: "webgl", "canvas" or "auto" (WebGL unless it is software
 * emulated or unavailable). A canvas keeps its first context type, so "auto" probes WebGL
 * on a scratch canvas first.
 */
let softwareGL = null; // probed once per page: is WebGL missing or software-emulated?

function webglIsSlow() {
  if (softwareGL === null) {
    const scratch = document.createElement("canvas");
    const probe = scratch.getContext("webgl");
    softwareGL = probe ? isSoftwareGL(probe) : true;
    const lose = probe && probe.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
  }
  return softwareGL;
}

export function createRenderer(canvas, preference = "auto") {
  if (preference !== "canvas") {
    if (preference === "auto" && webglIsSlow()) return new CanvasRenderer(canvas);
    const gl = canvas.getContext("webgl", { antialias: false, premultipliedAlpha: false, alpha: true });
    if (gl) {
      try {
        return new WebGLRenderer(canvas, gl);
      } catch (err) {
        console.warn("LatentScatter: WebGL renderer failed, using Canvas2D", err);
        return null; // the caller must use a fresh canvas for Canvas2D
      }
    }
  }
  return new CanvasRenderer(canvas);
}
