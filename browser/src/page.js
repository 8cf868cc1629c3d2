// The driver page of the runtime's browser backend (runtime/src/backend/browser/): it asks the
// loopback server for commands (`GET next`), runs them with onnxruntime-web, and posts the
// replies. Every address is relative to the page's, which holds the launch's secret token
// (`/<token>/page`): the server refuses any request without it. Tensors cross as binary
// messages (wire.rs describes the layout); a page holds at most one model, and the server
// moves to a fresh page for the next one.
const generation = new URLSearchParams(location.search).get('g') || '0';
const PLACEMENT = 'VerifyEachNodeIsAssignedToAnEp';
const ORT_CHATTER = /\[[VI]:onnxruntime/;
const placement = [];
const recent = [];

const post = (path, body, type) => fetch(path, {method: 'POST', body, headers: {'Content-Type': type}});
const log = (line) => {
  recent.push(line);
  if (recent.length > 50) recent.shift();
  post('log', line, 'text/plain').catch(() => {});
};
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    const line = args.map(String).join(' ');
    if (line.includes(PLACEMENT)) placement.push(line);
    // ORT writes its own verbose and info lines (a thousand per load) through console.error:
    // only warnings and errors are sent on.
    else if ((level === 'error' || level === 'warn') && !ORT_CHATTER.test(line)) log(`${level}: ${line}`);
    original(...args);
  };
}
addEventListener('error', (event) => log(`uncaught: ${event.message}`));
addEventListener('unhandledrejection', (event) => log(`unhandled rejection: ${event.reason}`));

let ort = null;
let sessions = [];

async function loadOrt() {
  if (!ort) {
    ort = await import(new URL('ort/ort.all.min.mjs', location.href).href);
    // One thread: a verdict must not depend on the machine's core count.
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
    ort.env.logLevel = 'warning';
  }
  return ort;
}

const ARRAYS = {
  int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
  float16: Uint16Array, float32: Float32Array, float64: Float64Array,
};
const align8 = (n) => Math.ceil(n / 8) * 8;

function decode(buffer) {
  const length = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  const start = align8(4 + length);
  const tensors = {};
  for (const entry of header) {
    const Array_ = ARRAYS[entry.dtype];
    const data = new Array_(buffer, start + entry.offset, entry.length / Array_.BYTES_PER_ELEMENT);
    tensors[entry.name] = new ort.Tensor(entry.dtype, data, entry.dims);
  }
  return tensors;
}

function encode(named) {
  const entries = [];
  let offset = 0;
  for (const [name, tensor] of named) {
    const data = tensor.data;
    const length = data.byteLength;
    entries.push({name, dtype: tensor.type, dims: tensor.dims.map(Number), offset, length});
    offset = align8(offset + length);
  }
  const header = new TextEncoder().encode(JSON.stringify(entries));
  const start = align8(4 + header.length);
  const out = new Uint8Array(start + offset);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.fill(32, 4 + header.length, start);
  named.forEach(([, tensor], i) => {
    const data = tensor.data;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start + entries[i].offset);
  });
  return out;
}

async function probe() {
  const found = {userAgent: navigator.userAgent, browserVersion: null, webgpu: null, webnn: null};
  try {
    // The user agent string carries a reduced version (148.0.0.0); the full one is asked for.
    const high = await navigator.userAgentData.getHighEntropyValues(['fullVersionList']);
    const brand = (high.fullVersionList || []).find((b) => /Chrom/.test(b.brand));
    if (brand) found.browserVersion = brand.version;
  } catch (error) {
    // Older browsers: the user agent's version stands.
  }
  if (!navigator.gpu) {
    found.webgpu = {error: 'navigator.gpu is missing (WebGPU is not exposed to the page)'};
  } else {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) {
        found.webgpu = {error: 'navigator.gpu.requestAdapter() returned null (no WebGPU adapter)'};
      } else {
        const info = adapter.info || {};
        found.webgpu = {
          vendor: info.vendor || '', architecture: info.architecture || '', device: info.device || '',
          description: info.description || '', isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
          features: [...adapter.features].sort(),
        };
      }
    } catch (error) {
      found.webgpu = {error: `requestAdapter threw ${error.name}: ${error.message}`};
    }
  }
  if (!navigator.ml) {
    found.webnn = {error: 'navigator.ml is missing (WebNN is not exposed to the page)'};
  } else {
    const contexts = {};
    for (const deviceType of ['cpu', 'gpu', 'npu']) {
      try {
        await navigator.ml.createContext({deviceType});
        contexts[deviceType] = 'ok';
      } catch (error) {
        contexts[deviceType] = `${error.name}: ${error.message}`;
      }
    }
    found.webnn = {contexts};
  }
  return found;
}

async function load(command) {
  await loadOrt();
  placement.length = 0;
  ort.env.logLevel = 'verbose';
  try {
    sessions = [];
    for (const url of command.models) {
      const options = {executionProviders: [command.provider], logSeverityLevel: 0};
      sessions.push(await ort.InferenceSession.create(url, options));
    }
  } finally {
    ort.env.logLevel = 'warning';
  }
  const first = sessions[0];
  return {inputs: first.inputNames, outputs: first.outputNames, placement: placement.slice(), version: ort.env.versions};
}

async function run(command) {
  const buffer = await (await fetch(command.blob)).arrayBuffer();
  const tensors = decode(buffer);
  const session = sessions[command.graph || 0];
  if (!session) throw new Error(`no session for graph ${command.graph}: load the model first`);
  const feeds = {};
  for (const name of session.inputNames) {
    if (!(name in tensors)) throw new Error(`the model takes input \`${name}\`, which the runtime did not send`);
    feeds[name] = tensors[name];
  }
  const outputs = await session.run(feeds, {logSeverityLevel: 3});
  return encode(session.outputNames.map((name) => [name, outputs[name]]));
}

const HANDLERS = {probe, load, run};

async function main() {
  for (;;) {
    let command;
    try {
      command = await (await fetch(`next?g=${generation}`)).json();
    } catch (error) {
      // The server is gone (the runtime ended): stop polling.
      return;
    }
    if (command.cmd === 'wait') continue;
    if (command.cmd === 'navigate') {
      location.replace(command.url);
      return;
    }
    const reply = `reply/${command.id}`;
    try {
      const handler = HANDLERS[command.cmd];
      if (!handler) throw new Error(`unknown command ${command.cmd}`);
      const result = await handler(command);
      if (result instanceof Uint8Array) await post(reply, result, 'application/octet-stream');
      else await post(reply, JSON.stringify(result), 'application/json');
    } catch (error) {
      const message = `${error && error.name ? error.name + ': ' : ''}${error && error.message ? error.message : error}`;
      await post(reply, JSON.stringify({error: message, console: recent.slice(-5)}), 'application/json');
    }
  }
}

main();
