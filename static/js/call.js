// The built-in call: a small WebRTC mesh (every browser connects to every other).
// Signalling goes through the portal over plain HTTP (POST to send, polling to receive);
// audio and video flow directly between the browsers. A newcomer makes the offers, so two
// browsers never offer to each other at once; a reload is simply a newcomer.
"use strict";

(() => {
  const root = document.querySelector("[data-call]");
  if (!root) return;
  const cfg = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const statusLine = root.querySelector("[data-call-status]");
  const tiles = root.querySelector("[data-tiles]");
  const tileTemplate = root.querySelector("[data-tile-template]");
  const localVideo = root.querySelector("[data-local]");

  const peers = new Map(); // peer key -> {pc, tile, pending: [], info}
  const known = new Map(); // peer key -> {name, role} from the server's peer list
  const unconnectedSince = new Map(); // present peers we have no connection with, since when
  let me = null;
  let iceServers = [];
  let pollMs = 1000;
  let after = 0;
  let local = null;
  let stopped = false;
  let rejoining = false;

  const text = (key, name) =>
    root.querySelector(`template[data-text="${key}"]`).innerHTML.trim().replace("{name}", name || "");
  const say = (message) => { statusLine.textContent = message; };

  async function post(url, body, keepalive = false) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
      keepalive,
    });
    return response;
  }

  // How long the portal asks us to wait after a 429 (rate limit or full mailbox), in ms.
  const retryAfter = (response) =>
    Math.max(1, Number(response.headers.get("Retry-After")) || 2) * 1000;

  async function send(to, kind, payload, attempt = 0) {
    if (stopped) return;
    try {
      const response = await post(cfg.signalUrl, { peer: me, to, kind, payload });
      // Refused for now: an offer or answer is needed, so it is sent again; a candidate is
      // tried once more and then dropped (the others, and those gathered later, suffice).
      if (response.status === 429 && attempt < (kind === "candidate" ? 1 : 5)) {
        setTimeout(() => send(to, kind, payload, attempt + 1), retryAfter(response));
      }
    } catch (error) {
      // Offline for a moment: the next poll says whether the connection still stands.
    }
  }

  function label(info) {
    if (!info) return "";
    return info.role === "advisor" ? `${info.name} (${text("role-advisor")})` : info.name;
  }

  function makeTile(key) {
    const tile = tileTemplate.content.firstElementChild.cloneNode(true);
    tile.dataset.peer = key;
    tile.querySelector("figcaption").textContent = label(known.get(key));
    tiles.appendChild(tile);
    return tile;
  }

  function describeState() {
    const connected = [...peers.values()].filter((p) => p.pc.connectionState === "connected");
    if (peers.size === 0) say(text("waiting-for-others"));
    else if (connected.length === peers.size) say(text("connected"));
    root.dataset.connectedPeers = String(connected.length);
  }

  function ensurePeer(key, initiator) {
    let entry = peers.get(key);
    if (entry) return entry;
    const pc = new RTCPeerConnection({ iceServers });
    entry = { pc, tile: makeTile(key), pending: [] };
    peers.set(key, entry);
    if (local) local.getTracks().forEach((track) => pc.addTrack(track, local));
    // Receive audio and video even when we have nothing to send.
    if (!local || local.getAudioTracks().length === 0) pc.addTransceiver("audio", { direction: "recvonly" });
    if (!local || local.getVideoTracks().length === 0) pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (event) => {
      const video = entry.tile.querySelector("video");
      const stream = event.streams[0] || new MediaStream([event.track]);
      if (video.srcObject !== stream) video.srcObject = stream;
    };
    pc.onicecandidate = (event) => {
      if (event.candidate) send(key, "candidate", event.candidate.toJSON());
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && turnExpired()) rejoin();
      else if (pc.connectionState === "failed" && initiator) offer(key, entry, true);
      if (pc.connectionState === "failed" || pc.connectionState === "disconnected") say(text("trouble"));
      describeState();
    };
    if (initiator) offer(key, entry, false);
    return entry;
  }

  async function offer(key, entry, restart) {
    const description = await entry.pc.createOffer(restart ? { iceRestart: true } : undefined);
    await entry.pc.setLocalDescription(description);
    send(key, "offer", { type: description.type, sdp: description.sdp });
  }

  async function flush(entry) {
    while (entry.pending.length) {
      await entry.pc.addIceCandidate(entry.pending.shift()).catch(() => {});
    }
  }

  async function handle(signal) {
    const from = signal.from;
    if (signal.kind === "offer") {
      const entry = ensurePeer(from, false);
      await entry.pc.setRemoteDescription(signal.payload);
      await flush(entry);
      const answer = await entry.pc.createAnswer();
      await entry.pc.setLocalDescription(answer);
      send(from, "answer", { type: answer.type, sdp: answer.sdp });
    } else if (signal.kind === "answer") {
      const entry = peers.get(from);
      if (entry) {
        await entry.pc.setRemoteDescription(signal.payload);
        await flush(entry);
      }
    } else if (signal.kind === "candidate") {
      const entry = peers.get(from);
      if (!entry) return;
      if (entry.pc.remoteDescription) await entry.pc.addIceCandidate(signal.payload).catch(() => {});
      else entry.pending.push(signal.payload);
    }
  }

  function drop(key) {
    const entry = peers.get(key);
    if (!entry) return;
    entry.pc.close();
    entry.tile.remove();
    peers.delete(key);
    say(text("left", label(known.get(key))));
  }

  function updatePeers(list) {
    const present = new Set(list.map((p) => p.peer));
    const t = performance.now();
    list.forEach((p) => {
      if (!known.has(p.peer)) {
        known.set(p.peer, p);
        if (me) say(text("joined", label(p)));
      }
      const entry = peers.get(p.peer);
      if (entry) {
        entry.tile.querySelector("figcaption").textContent = label(p);
        unconnectedSince.delete(p.peer);
      } else if (!unconnectedSince.has(p.peer)) {
        unconnectedSince.set(p.peer, t);
      } else if (t - unconnectedSince.get(p.peer) > 3000 && me < p.peer) {
        // Normally the newcomer offers within a second. If no offer came (two joined at the
        // same moment, or one was dropped after a long gap), the lower key offers: one side
        // only, so the two never offer to each other at once.
        unconnectedSince.delete(p.peer);
        ensurePeer(p.peer, true);
      }
    });
    [...peers.keys()].forEach((key) => { if (!present.has(key)) drop(key); });
    [...unconnectedSince.keys()].forEach((key) => {
      if (!present.has(key)) unconnectedSince.delete(key);
    });
  }

  // The same person opened the call in another tab or window: that one has it now. Stop
  // camera and microphone here, say so, and offer to take the call back (a reload).
  function replaced() {
    stopped = true;
    peers.forEach((entry) => entry.pc.close());
    peers.clear();
    if (local) local.getTracks().forEach((t) => t.stop());
    localVideo.srcObject = null;
    root.querySelectorAll("[data-in-call]").forEach((element) => { element.hidden = true; });
    say("");
    const notice = root.querySelector("[data-replaced]");
    notice.hidden = false;
    notice.focus();
  }

  function finish(url) {
    stopped = true;
    peers.forEach((entry) => entry.pc.close());
    if (local) local.getTracks().forEach((t) => t.stop());
    window.location.assign(url);
  }

  async function poll() {
    if (stopped) return;
    const asked = me;
    try {
      const url = `${cfg.signalsUrl}&peer=${encodeURIComponent(me)}&after=${after}`;
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      // Asked for the peer we were before joining again (see rejoin), or while joining
      // again: the answer is stale ("replaced" by ourselves).
      if (asked !== me || rejoining) { setTimeout(poll, pollMs); return; }
      if (response.status === 404) { finish(cfg.endedUrl); return; }
      if (response.status === 429) { setTimeout(poll, Math.max(pollMs, retryAfter(response))); return; }
      const data = await response.json();
      if (data.ended) { finish(cfg.endedUrl); return; }
      if (asked !== me || rejoining) { setTimeout(poll, pollMs); return; }
      if (data.replaced) { replaced(); return; }
      updatePeers(data.peers);
      for (const signal of data.signals) {
        if (asked !== me) break;
        after = Math.max(after, signal.id);
        await handle(signal);
      }
      describeState();
    } catch (error) {
      say(text("trouble"));
    }
    setTimeout(poll, pollMs);
  }

  async function localMedia() {
    try {
      return await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (error) {
      try {
        const audio = await navigator.mediaDevices.getUserMedia({ audio: true });
        say(text("audio-only"));
        return audio;
      } catch (audioError) {
        say(text("no-media"));
        return null;
      }
    }
  }

  function setupControls() {
    root.querySelectorAll("[data-toggle]").forEach((button) => {
      button.addEventListener("click", () => {
        const kind = button.dataset.toggle;
        const off = button.getAttribute("aria-pressed") !== "true";
        button.setAttribute("aria-pressed", String(off));
        if (local) {
          const tracks = kind === "audio" ? local.getAudioTracks() : local.getVideoTracks();
          tracks.forEach((t) => { t.enabled = !off; });
        }
      });
    });
    root.querySelector("[data-leave]").addEventListener("click", async (event) => {
      event.preventDefault();
      stopped = true;
      await post(cfg.leaveUrl, { peer: me, final: true }, true).catch(() => {});
      finish(cfg.afterLeaveUrl);
    });
    // A reload or a closed tab: the others drop this connection at once (a reload rejoins).
    window.addEventListener("pagehide", () => {
      if (me && !stopped) post(cfg.leaveUrl, { peer: me, final: false }, true).catch(() => {});
    });
  }

  async function start() {
    setupControls();
    local = await localMedia();
    if (local) localVideo.srcObject = local;
    join();
  }

  // TURN credentials are short-lived: their username starts with the expiry (unix seconds).
  // A connection that fails once they ran out (or are about to) cannot get a relay with them
  // again, so join anew, which hands out fresh ones, instead of restarting ICE.
  function turnExpired() {
    const soon = Date.now() / 1000 + 60;
    return iceServers.some((server) => typeof server.username === "string" &&
      Number(server.username.split(":")[0]) < soon);
  }

  async function rejoin() {
    if (rejoining || stopped) return;
    rejoining = true;
    peers.forEach((entry) => { entry.pc.close(); entry.tile.remove(); });
    peers.clear();
    unconnectedSince.clear();
    after = 0; // a new peer has a mailbox of its own (the old one's signals are deleted)
    say(text("trouble"));
    await join(false); // sets rejoining back once joined (it retries on its own)
  }

  async function join(startPolling = true) {
    let response;
    try {
      response = await post(cfg.joinUrl, {});
    } catch (error) {
      say(text("trouble"));
      setTimeout(() => join(startPolling), 2000);
      return;
    }
    if (response.status === 429) {  // too many joins (reloads, tabs) just now
      say(text("busy"));
      setTimeout(() => join(startPolling), retryAfter(response));
      return;
    }
    if (!response.ok) { finish(cfg.endedUrl); return; }
    const data = await response.json();
    me = data.peer;
    rejoining = false;
    iceServers = data.ice_servers || [];
    pollMs = data.poll_ms || 1000;
    data.peers.forEach((p) => known.set(p.peer, p));
    data.peers.forEach((p) => ensurePeer(p.peer, true));
    describeState();
    if (startPolling) poll();
  }

  // For support tools and tests: what is actually arriving.
  window.portalCall = {
    async inboundVideoFrames() {
      let frames = 0;
      for (const { pc } of peers.values()) {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
        });
      }
      return frames;
    },
    connectedPeers: () => [...peers.values()].filter((p) => p.pc.connectionState === "connected").length,
    // Per connection, the candidate pair in use: its local and remote candidate types
    // ("host", "srflx", "relay") and, for a relay, how this browser reaches the TURN server.
    async selectedPairs() {
      const pairs = [];
      for (const { pc } of peers.values()) {
        const stats = await pc.getStats();
        let pairId = null;
        stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
        const pair = pairId && stats.get(pairId);
        if (!pair) { pairs.push(null); continue; }
        const localCandidate = stats.get(pair.localCandidateId);
        const remoteCandidate = stats.get(pair.remoteCandidateId);
        pairs.push({
          state: pair.state,
          local: localCandidate.candidateType,
          remote: remoteCandidate.candidateType,
          relayProtocol: localCandidate.relayProtocol || null,
        });
      }
      return pairs;
    },
  };

  start();
})();
