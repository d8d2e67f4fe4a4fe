// The device and network check: one button, one getUserMedia call, steps in parallel where
// they can run in parallel, each announced when done, then a grade with advice.
import { analyseCamera, analyseMicrophone, playTone } from "./media.js";
import { download, iceCandidates, latency, relayPath, relayServers, upload } from "./network.js";

const GRADES = ["not_ready", "audio_only", "video", "good"];
// Stored with the result, but no problem: the call works (the advisor still sees it).
const NOTES = new Set(["relay_tcp_only"]);

const root = document.querySelector("[data-device-check]");
if (root) setUp(root);

function setUp(root) {
  const cfg = root.dataset;
  const thresholds = JSON.parse(cfg.thresholds);
  const iceServers = JSON.parse(cfg.iceServers || "[]");
  const directionMs = Number(cfg.directionMs || 4000);
  // The media-path step: "relay" (TURN configured, this page may test it), "gather"
  // (STUN servers only), "none" (nothing configured); `relayConfigured` "no" means the
  // portal has no relay at all, so the result says the path could not be checked.
  const mediaPath = cfg.mediaPath || "none";
  const relayConfigured = cfg.relayConfigured === "yes";
  const video = root.querySelector("video");
  const meter = root.querySelector("meter");
  const announcer = root.querySelector("[data-announcer]");
  const resultBox = root.querySelector("[data-check-result]");
  const form = document.querySelector("[data-check-form]");
  const text = (key, values = {}) => {
    let t = root.querySelector(`template[data-text="${key}"]`).innerHTML.trim();
    for (const [k, v] of Object.entries(values)) t = t.replace(`{${k}}`, v);
    return t;
  };
  let running = false;
  let stream = null;
  let audioContext = null;
  const result = {};

  function step(name, status, message) {
    const li = root.querySelector(`[data-step="${name}"]`);
    if (!li) return;
    li.dataset.status = status;
    li.querySelector("[data-step-status]").textContent = message;
    if (status === "ok" || status === "failed" || status === "info") {
      announcer.textContent = `${li.querySelector("[data-step-name]").textContent}: ${message}`;
      const bar = li.querySelector("progress");
      if (bar) bar.value = 1;
    }
  }

  function field(name, value) {
    if (form && form.elements[name]) form.elements[name].value = value;
  }

  function networkGrade(kbps, rtt, jitter) {
    let grade = "not_ready";
    for (const name of GRADES.slice(1)) {
      const t = thresholds[name];
      if (kbps >= t.kbps && rtt < t.rtt_ms && jitter < t.jitter_ms) grade = name;
    }
    return grade;
  }

  function overallGrade() {
    const network = result.network ? networkGrade(
      Math.min(result.network.downloadKbps, result.network.uploadKbps),
      result.network.rttMs, result.network.jitterMs) : "not_ready";
    const cap = result.camera === "ok" && result.microphone === "ok" ? "good"
      : result.microphone === "ok" ? "audio_only" : "not_ready";
    return GRADES[Math.min(GRADES.indexOf(network), GRADES.indexOf(cap))];
  }

  function kindOf(error) {
    if (!error) return "error";
    if (error.name === "NotAllowedError" || error.name === "SecurityError") return "denied";
    if (error.name === "NotFoundError" || error.name === "OverconstrainedError") return "missing";
    return "error";
  }

  async function openDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return { camera: "error", microphone: "error" };
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: true, video: { width: { ideal: 640 }, height: { ideal: 360 } } });
      return { camera: "pending", microphone: "pending" };
    } catch (error) {
      const kind = kindOf(error);
      if (kind !== "missing") return { camera: kind, microphone: kind };
      try { // perhaps only the camera is missing
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        return { camera: "missing", microphone: "pending" };
      } catch (audioError) {
        return { camera: "missing", microphone: kindOf(audioError) };
      }
    }
  }

  async function cameraStep(state) {
    if (state !== "pending") {
      result.camera = state;
      step("camera", "failed", text(`camera-${state}`));
      return;
    }
    step("camera", "running", text("running"));
    video.srcObject = stream;
    await video.play().catch(() => {});
    const cam = await analyseCamera(video);
    result.camera = cam.ok ? "ok" : "error";
    result.cameraFps = cam.fps;
    result.warnings.push(...(cam.black ? ["camera_black"] : []),
      ...(cam.frozen ? ["camera_frozen"] : []),
      ...(!cam.black && !cam.frozen && !cam.ok ? ["camera_slow"] : []));
    step("camera", cam.ok ? "ok" : "failed", cam.ok ? text("camera-ok", { fps: Math.round(cam.fps) })
      : text(cam.black ? "camera-black" : cam.frozen ? "camera-frozen" : "camera-slow"));
  }

  async function microphoneStep(state) {
    if (state !== "pending") {
      result.microphone = state;
      step("microphone", "failed", text(`microphone-${state}`));
      return;
    }
    step("microphone", "running", text("speak-now"));
    await audioContext.resume(); // a suspended context would hear nothing
    const mic = await analyseMicrophone(stream, audioContext, {
      durationMs: 4000,
      onLevel: (dbfs) => { meter.value = Math.max(0, Math.min(60, dbfs + 60)); } });
    result.microphone = mic.ok ? "ok" : "silent";
    result.micDbfs = mic.peakDbfs;
    if (mic.clipping) result.warnings.push("microphone_clipping");
    step("microphone", mic.ok ? "ok" : "failed",
      mic.ok ? text("microphone-ok", { dbfs: mic.peakDbfs }) : text("microphone-silent"));
  }

  function speakerStep() {
    const question = root.querySelector("[data-speaker-question]");
    question.hidden = false;
    step("speaker", "running", text("speaker-question"));
    playTone(audioContext);
  }

  async function networkStep(latencyDone) {
    const phase = performance.now();
    step("latency", "running", text("running"));
    const lat = await latency(cfg.pingUrl).finally(latencyDone);
    root.dataset.latencyMs = String(Math.round(performance.now() - phase));
    step("latency", "ok", text("latency-done", { rtt: Math.round(lat.rttMs), jitter: Math.round(lat.jitterMs) }));
    const progress = (name) => (bps, share) => {
      step(name, "running", text("rate", { mbps: (bps / 1e6).toFixed(2) }));
      const bar = root.querySelector(`[data-step="${name}"] progress`);
      if (bar) bar.value = share;
    };
    step("download", "running", text("running"));
    let begun = performance.now();
    const down = await download(cfg.downloadUrl, { maxMs: directionMs, onProgress: progress("download") });
    root.dataset.downloadMs = String(Math.round(performance.now() - begun));
    step("download", "ok", text("rate", { mbps: (down / 1e6).toFixed(2) }));
    step("upload", "running", text("running"));
    begun = performance.now();
    const up = await upload(cfg.uploadUrl, { maxMs: directionMs, guessBps: down,
      onProgress: progress("upload") });
    root.dataset.uploadMs = String(Math.round(performance.now() - begun));
    step("upload", "ok", text("rate", { mbps: (up / 1e6).toFixed(2) }));
    result.network = { downloadKbps: Math.round(down / 1000), uploadKbps: Math.round(up / 1000),
      rttMs: Math.round(lat.rttMs * 10) / 10, jitterMs: Math.round(lat.jitterMs * 10) / 10 };
    // Uneven: slow answers, or a fluctuation larger than the answer time itself.
    if (lat.rttMs > 300 || (lat.jitterMs > 30 && lat.jitterMs > lat.rttMs)) result.warnings.push("uncertain");
  }

  async function relayStep() {
    step("ice", "running", text("running"));
    const begun = performance.now();
    let found;
    try {
      const csrf = document.querySelector('meta[name="csrf-token"]');
      const servers = await relayServers(cfg.relayUrl, csrf ? csrf.content : "");
      found = await relayPath(servers);
    } catch (error) { // no credentials (e.g. too many checks in a row), or no WebRTC
      result.relay = "untested";
      step("ice", "info", text("relay-untested"));
      return;
    }
    root.dataset.relayMs = String(Math.round(performance.now() - begun));
    root.dataset.relayRttMs = found.rttMs === null ? "" : String(Math.round(found.rttMs));
    if (!found.reachable) {
      result.relay = "unreachable";
      result.warnings.push("relay_unreachable");
      step("ice", "failed", text("relay-failed"));
    } else if (found.protocol === "udp") {
      result.relay = "udp";
      step("ice", "ok", text("relay-udp"));
    } else {
      result.relay = "tcp";
      result.warnings.push("relay_tcp_only");
      step("ice", "ok", text("relay-tcp"));
    }
  }

  async function iceStep() {
    if (mediaPath === "relay") return relayStep();
    if (!relayConfigured) result.relay = "none";
    if (mediaPath !== "gather") {
      if (!relayConfigured) step("ice", "info", text("relay-none"));
      return;
    }
    step("ice", "running", text("running"));
    const found = await iceCandidates(iceServers);
    const ok = found.srflx || found.relay;
    if (!ok) result.warnings.push("media_blocked");
    step("ice", ok ? "ok" : "failed", text(ok ? "ice-ok" : "ice-blocked"));
  }

  function showResult() {
    const grade = overallGrade();
    const n = result.network || {};
    resultBox.dataset.grade = grade;
    resultBox.dataset.downloadKbps = n.downloadKbps ?? "";
    resultBox.dataset.uploadKbps = n.uploadKbps ?? "";
    resultBox.dataset.rttMs = n.rttMs ?? "";
    resultBox.dataset.jitterMs = n.jitterMs ?? "";
    resultBox.dataset.relay = result.relay || "";
    // The grade speaks of devices and bandwidth; a relay that nothing gets through comes
    // first, so the heading never says "ready" when the call may not connect at all.
    const verdict = result.relay === "unreachable" ? text("verdict-blocked") : text(`grade-${grade}`);
    resultBox.querySelector("[data-grade-label]").textContent = verdict;
    const problems = new Set(result.warnings.filter((w) => !NOTES.has(w)));
    if (result.camera !== "ok") problems.add(`camera_${result.camera}`);
    if (result.microphone !== "ok") problems.add(`microphone_${result.microphone}`);
    if (result.network && GRADES.indexOf(grade) < GRADES.indexOf("video") &&
        result.microphone === "ok" && result.camera === "ok") problems.add("network_slow");
    if (result.speaker === "not_heard") problems.add("speaker_not_heard");
    root.querySelectorAll("[data-advice-for]").forEach((el) => {
      el.hidden = !problems.has(el.dataset.adviceFor);
    });
    resultBox.querySelector("[data-all-good]").hidden = problems.size > 0;
    // Without a relay the media path is unknown: a calm note, no problem.
    const unverified = result.relay === "none";
    resultBox.querySelector("[data-media-unverified]").hidden = !unverified;
    resultBox.hidden = false;
    field("camera", result.camera);
    field("microphone", result.microphone);
    field("speaker", result.speaker || "untested");
    field("download_kbps", n.downloadKbps ?? "");
    field("upload_kbps", n.uploadKbps ?? "");
    field("rtt_ms", n.rttMs ?? "");
    field("jitter_ms", n.jitterMs ?? "");
    field("warnings", [...result.warnings].join(","));
    announcer.textContent = [text("finished"), verdict,
      problems.size || unverified ? text("see-below") : ""].join(" ").trim();
  }

  root.querySelectorAll("[data-speaker-answer]").forEach((button) => {
    button.addEventListener("click", () => {
      if (button.dataset.speakerAnswer === "again") { playTone(audioContext); return; }
      result.speaker = button.dataset.speakerAnswer === "yes" ? "ok" : "not_heard";
      root.querySelector("[data-speaker-question]").hidden = true;
      step("speaker", result.speaker === "ok" ? "ok" : "failed", text(`speaker-${result.speaker}`));
      if (result.done) showResult();
    });
  });

  root.querySelector("[data-start-check]").addEventListener("click", async () => {
    if (running) return;
    running = true;
    Object.keys(result).forEach((k) => delete result[k]);
    result.warnings = [];
    resultBox.hidden = true;
    root.querySelectorAll("[data-step]").forEach((li) => step(li.dataset.step, "waiting", text("waiting")));
    if (stream) stream.getTracks().forEach((t) => t.stop());
    const AudioCtx = window.AudioContext || window.webkitAudioContext;
    if (!audioContext) audioContext = new AudioCtx(); // created inside the click: sound allowed
    audioContext.resume();
    const started = performance.now();
    speakerStep();
    // The network needs no permission: it starts at once, beside the devices. The short
    // latency test goes first alone, so starting the camera does not disturb its timing.
    let latencyDone;
    const latencyMeasured = new Promise((resolve) => { latencyDone = resolve; });
    const network = networkStep(latencyDone).catch(() => {
      ["latency", "download", "upload"].forEach((s) => step(s, "failed", text("network-failed")));
    });
    const ice = iceStep().catch(() => {});
    await Promise.race([latencyMeasured, new Promise((r) => setTimeout(r, 1500))]);
    // An unanswered permission prompt must not hold the whole check up for ever.
    const devices = await Promise.race([openDevices(), new Promise((resolve) => setTimeout(
      () => resolve({ camera: "error", microphone: "error" }), 20000))]);
    await Promise.all([cameraStep(devices.camera), microphoneStep(devices.microphone),
      network, ice]);
    root.dataset.durationMs = String(Math.round(performance.now() - started));
    result.done = true;
    showResult();
    running = false;
  });

  window.addEventListener("pagehide", () => {
    if (stream) stream.getTracks().forEach((t) => t.stop());
  });
  root.querySelector("[data-start-check]").hidden = false;
}
