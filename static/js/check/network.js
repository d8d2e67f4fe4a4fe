// Latency, jitter and throughput over HTTP to the portal itself (no third party involved);
// download counts bytes as they arrive, upload only bytes the server confirms. At the end,
// the media path: ICE candidates from STUN servers, or data through the portal's TURN relay.

const SAMPLE_MS = 200;
const WARMUP_MS = 700; // TCP slow start: these samples are thrown away
const MIN_MEASURE_MS = 1000; // after warm-up, before an early stop is allowed
const MIN_MEASURE_BYTES = 256 * 1024; // slow links: enough data that one burst does not count
const STABLE = 0.1; // early stop when the running rate stayed within ±5 % over the last second

const now = () => performance.now();

function answered(what, status) {
  const error = new Error(`${what} answered ${status}`);
  error.status = status;
  return error;
}

const isRefusal = (error) => Boolean(error && error.status === 429);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function latency(url, count = 10) {
  const fetchOnce = async () => {
    const address = new URL(`${url}?t=${Math.random()}`, window.location.href).href;
    const started = now();
    const response = await fetch(address, { cache: "no-store" });
    if (!response.ok) throw new Error(`ping answered ${response.status}`);
    await response.arrayBuffer();
    const ended = now();
    // Resource Timing measures on the network, without the page's own scheduling delays.
    const entry = performance.getEntriesByName(address).pop();
    if (entry && entry.requestStart > 0 && entry.responseStart >= entry.requestStart) {
      return entry.responseStart - entry.requestStart;
    }
    return ended - started;
  };
  await fetchOnce(); // warm-up: connection set-up does not count
  const rtts = [];
  for (let i = 0; i < count; i += 1) rtts.push(await fetchOnce());
  // Jitter: the median change between successive answers. A single late answer (the
  // device busy for a moment) does not count; a link that keeps wavering does.
  const changes = rtts.slice(1).map((rtt, i) => Math.abs(rtt - rtts[i]));
  return { rttMs: median(rtts), jitterMs: median(changes), samples: rtts };
}

// Runs `streams` parallel loops until stop; `counter.bytes` grows as data is confirmed.
// Measures the rate after the warm-up and stops early once it is stable. If the first
// samples show more than `moreAboveBps`, `more` loops join while still warming up: a fast
// link needs several streams to fill, while on a slow one many streams share a tiny queue,
// lose packets together and leave the line idle, which makes the figure jump.
async function measure(loop, { streams, more = 0, moreAboveBps = Infinity, maxMs, onProgress }) {
  const counter = { bytes: 0 };
  const controller = new AbortController();
  const started = now();
  let warmBytes = null;
  let warmAt = null;
  const rates = [];
  let result = 0;

  let running = 0; // loops still going: all end early only if the server refuses (429)
  let refused = false;
  const start = () => {
    running += 1;
    return loop(counter, controller.signal).catch((error) => { refused = refused || isRefusal(error); })
      .finally(() => { running -= 1; });
  };
  const loops = Array.from({ length: streams }, start);
  let joined = false;

  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      const elapsed = t - started;
      if (!joined && warmAt === null && (counter.bytes * 8) / (elapsed / 1000) > moreAboveBps) {
        joined = true;
        for (let i = 0; i < more; i += 1) loops.push(start());
      }
      if (warmAt === null && elapsed >= WARMUP_MS) {
        warmAt = t;
        warmBytes = counter.bytes;
      }
      if (warmAt !== null && t > warmAt) {
        result = ((counter.bytes - warmBytes) * 8) / ((t - warmAt) / 1000); // bit/s
        rates.push(result);
        if (onProgress) onProgress(result, Math.min(1, elapsed / maxMs));
        const window = rates.slice(-Math.round(1000 / SAMPLE_MS));
        const stable = t - warmAt >= MIN_MEASURE_MS && window.length >= 5 &&
          counter.bytes - warmBytes >= MIN_MEASURE_BYTES &&
          Math.max(...window) - Math.min(...window) <= STABLE * result;
        if (stable || elapsed >= maxMs || running === 0) {
          clearInterval(timer);
          resolve();
        }
      }
    }, SAMPLE_MS);
  });
  controller.abort();
  await Promise.all(loops);
  // A figure cut short by the portal's limit says nothing about the line: no figure at all.
  if (refused) throw new Error("the portal refused further measurement requests");
  return result;
}

export function download(url, { maxMs = 4000, onProgress } = {}) {
  const loop = async (counter, signal) => {
    let size = 100 * 1024; // growing request sizes: slow links finish, fast ones keep going
    while (!signal.aborted) {
      const response = await fetch(`${url}?bytes=${size}&t=${Math.random()}`,
        { cache: "no-store", credentials: "omit", signal });
      if (!response.ok) throw answered("download", response.status);
      const reader = response.body.getReader();
      const begun = now();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        counter.bytes += value.length;
      }
      if (now() - begun < 1000) size = Math.min(size * 4, 16 * 1024 * 1024);
    }
  };
  return measure(loop, { streams: 2, more: 2, moreAboveBps: 2e6, maxMs, onProgress });
}

const MAX_UPLOAD = 4 * 1024 * 1024; // Chrome on phones limits large blobs
let randomBytes = null;

function randomBlob(size) {
  // One buffer of random bytes, made once; each request sends a slice of it.
  if (!randomBytes) {
    randomBytes = new Uint8Array(MAX_UPLOAD);
    for (let i = 0; i < MAX_UPLOAD; i += 65536) {
      crypto.getRandomValues(randomBytes.subarray(i, i + 65536));
    }
  }
  return new Blob([randomBytes.subarray(0, size)]);
}

// Upload: bytes count only once the server confirms them. Each finished request adds its
// bytes spread over the time it was under way, so the rate over [warm-up end, stop] is exact
// once every request overlapping that window has finished: at the stop no new requests start
// and those under way are awaited (aborted only if they take far too long).
// `guessBps` (e.g. the download rate) sizes the first requests, so a fast link does not
// spend its measurement growing them and a slow one does not send huge ones.
export async function upload(url, { maxMs = 4000, guessBps = 0, onProgress } = {}) {
  const streams = guessBps && guessBps < 1e6 ? 2 : 4;
  const first = Math.min(1024 * 1024,
    Math.max(8 * 1024, Math.round((guessBps / 8) * 0.3 / streams)));
  const started = now();
  const warmAt = started + WARMUP_MS;
  const finished = []; // {start, end, bytes}
  const controller = new AbortController();
  let stopAt = null;

  const rateUntil = (t) => {
    let bytes = 0;
    for (const r of finished) {
      const a = Math.max(r.start, warmAt);
      const b = Math.min(r.end, t);
      if (b > a) bytes += (r.bytes * (b - a)) / (r.end - r.start);
    }
    return (bytes * 8) / ((t - warmAt) / 1000);
  };

  const loop = async () => {
    let size = first;
    while (stopAt === null) {
      const begun = now();
      const response = await fetch(`${url}?t=${Math.random()}`, {
        method: "POST", body: randomBlob(size), cache: "no-store", credentials: "omit",
        signal: controller.signal,
        headers: { "Content-Type": "application/octet-stream" },
      });
      if (!response.ok) throw answered("upload", response.status);
      const answer = await response.json();
      const took = now() - begun;
      finished.push({ start: begun, end: now(), bytes: answer.bytes });
      // Aim for about 0.3–0.6 s per request: frequent confirmations, little overhead.
      if (took < 150) size = Math.min(size * 4, MAX_UPLOAD);
      else if (took < 300) size = Math.min(size * 2, MAX_UPLOAD);
      else if (took > 800) size = Math.max(8 * 1024, Math.round(size / 2));
    }
  };
  let running = streams; // all end early only if the server refuses (429)
  let refused = false;
  const loops = Array.from({ length: streams }, () => loop()
    .catch((error) => { refused = refused || isRefusal(error); }).finally(() => { running -= 1; }));

  const rates = [];
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      const last = finished.length ? Math.max(...finished.map((r) => r.end)) : 0;
      if (last > warmAt + SAMPLE_MS) {
        const rate = rateUntil(last); // what is confirmed so far (a little low, for display)
        rates.push(rate);
        if (onProgress) onProgress(rate, Math.min(1, (t - started) / maxMs));
      }
      const window = rates.slice(-Math.round(1000 / SAMPLE_MS));
      const rate = rates[rates.length - 1] || 0;
      const stable = t - warmAt >= MIN_MEASURE_MS && window.length >= 5 &&
        (rate / 8) * ((t - warmAt) / 1000) >= MIN_MEASURE_BYTES &&
        Math.max(...window) - Math.min(...window) <= STABLE * rate;
      if (stable || t - started >= maxMs || running === 0) {
        clearInterval(timer);
        resolve();
      }
    }, SAMPLE_MS);
  });
  // Nothing can arrive after the last request once every loop has ended: stop there.
  stopAt = running === 0 && finished.length ? Math.max(...finished.map((r) => r.end)) : now();
  const overdue = setTimeout(() => controller.abort(), 2000);
  await Promise.all(loops);
  clearTimeout(overdue);
  if (refused) throw new Error("the portal refused further measurement requests");
  return stopAt > warmAt ? rateUntil(stopAt) : 0;
}

// Optional: can media flow? Gather ICE candidates through the configured STUN/TURN servers.
export async function iceCandidates(iceServers, timeoutMs = 3000) {
  const pc = new RTCPeerConnection({ iceServers });
  const found = { host: false, srflx: false, relay: false, udp: false, tcp: false };
  pc.createDataChannel("check");
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.onicecandidate = (event) => {
      if (!event.candidate) { clearTimeout(timer); resolve(); return; }
      const c = event.candidate;
      if (c.type in found) found[c.type] = true;
      if (c.protocol) found[c.protocol.toLowerCase()] = true;
    };
  });
  pc.close();
  return found;
}

// The media-path step: can media flow through the portal's TURN relay from this network?
// Two peer connections in this page, both allowed relay candidates only, connect through
// the TURN server and echo a message over a data channel (the same ICE/DTLS path media
// takes). Success means the relay carries data to and from this device even where every
// direct path is blocked; the selected pair says whether it got there over UDP or TCP/TLS.

// Fresh, short-lived credentials for the participant (POST with the page's CSRF token).
export async function relayServers(url, csrfToken) {
  const response = await fetch(url, {
    method: "POST", cache: "no-store", credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken, "Content-Type": "application/json" }, body: "{}",
  });
  if (!response.ok) throw new Error(`relay credentials answered ${response.status}`);
  return (await response.json()).ice_servers;
}

// The relay protocol ("udp", "tcp" or "tls") of the connection's selected local candidate.
async function relayProtocolOf(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    stats.forEach((s) => {
      if (s.type === "candidate-pair" && s.state === "succeeded" && s.nominated) pair = s;
    });
  }
  const local = pair && stats.get(pair.localCandidateId);
  return local ? String(local.relayProtocol || local.protocol || "").toLowerCase() : "";
}

// {reachable, protocol: "udp" | "tcp" | "tls" | "", rttMs}; never longer than timeoutMs.
export async function relayPath(iceServers, { timeoutMs = 8000 } = {}) {
  const config = { iceServers, iceTransportPolicy: "relay" };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const probe = `relay-check-${Math.random()}`;
  let timer;
  try {
    // Candidates go straight across: the two ends live in the same page.
    a.onicecandidate = (event) => { if (event.candidate) b.addIceCandidate(event.candidate).catch(() => {}); };
    b.onicecandidate = (event) => { if (event.candidate) a.addIceCandidate(event.candidate).catch(() => {}); };
    b.ondatachannel = (event) => {
      event.channel.onmessage = (message) => event.channel.send(message.data);
    };
    const channel = a.createDataChannel("relay-check");
    let sentAt = 0;
    const echoed = new Promise((resolve) => {
      channel.onopen = () => { sentAt = now(); channel.send(probe); };
      channel.onmessage = (message) => { if (message.data === probe) resolve(now() - sentAt); };
    });
    const failed = new Promise((resolve) => {
      // Known before the timeout: ICE gave up, or an end gathered no relay candidate at all
      // (the TURN server refused or could not be reached over any transport).
      const gathered = new Map([[a, 0], [b, 0]]);
      const watch = (pc) => {
        pc.addEventListener("icecandidate", (event) => {
          if (event.candidate) gathered.set(pc, gathered.get(pc) + 1);
        });
        pc.addEventListener("iceconnectionstatechange", () => {
          if (pc.iceConnectionState === "failed") resolve(null);
        });
        pc.addEventListener("icegatheringstatechange", () => {
          if (pc.iceGatheringState === "complete" && gathered.get(pc) === 0) resolve(null);
        });
      };
      watch(a);
      watch(b);
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    const rttMs = await Promise.race([echoed, failed]);
    if (rttMs === null) return { reachable: false, protocol: "", rttMs: null };
    // Both ends allocated on this network: either one over TCP/TLS means UDP did not get through.
    const protocols = await Promise.all([relayProtocolOf(a), relayProtocolOf(b)]);
    const protocol = protocols.find((p) => p && p !== "udp") || protocols.find(Boolean) || "";
    return { reachable: true, protocol, rttMs };
  } finally {
    clearTimeout(timer);
    a.close();
    b.close();
  }
}
