// The media-path step: can media flow through the portal's TURN relay from this network?
// Two peer connections in this page, both allowed relay candidates only, connect through
// the TURN server and echo a message over a data channel (the same ICE/DTLS path media
// takes). Success means the relay carries data to and from this device even where every
// direct path is blocked; the selected pair says whether it got there over UDP or TCP/TLS.

const now = () => performance.now();

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
      const watch = (pc) => pc.addEventListener("iceconnectionstatechange", () => {
        if (pc.iceConnectionState === "failed") resolve(null);
      });
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
