// Camera and microphone analysis on the stream of the check's single getUserMedia call.

const SILENCE_DBFS = -60; // quieter than this counts as silence (testrtc's threshold)
const CLIP_RUN = 6; // this many full-scale samples in a row: clipping

const now = () => performance.now();

// Camera: frames arriving, frame rate, not black, not frozen (testrtc's criteria).
export async function analyseCamera(video, durationMs = 2500) {
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 48;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let frames = 0;
  const countFrames = () => {
    frames += 1;
    if (video.requestVideoFrameCallback && !stopped) video.requestVideoFrameCallback(countFrames);
  };
  let stopped = false;
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(countFrames);

  let previous = null;
  let samples = 0;
  let black = 0;
  let frozen = 0;
  const started = now();
  while (now() - started < durationMs) {
    await new Promise((r) => setTimeout(r, 100));
    if (video.videoWidth === 0) continue;
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let luma = 0;
    let change = 0;
    const current = new Uint8Array(canvas.width * canvas.height);
    for (let i = 0, p = 0; i < pixels.length; i += 4, p += 1) {
      const y = 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
      current[p] = y;
      luma += y;
      if (previous) change += Math.abs(y - previous[p]);
    }
    luma /= current.length;
    samples += 1;
    if (luma < 20) black += 1;
    if (previous && change / current.length < 0.5) frozen += 1;
    previous = current;
  }
  stopped = true;
  const seconds = (now() - started) / 1000;
  const settings = video.srcObject && video.srcObject.getVideoTracks()[0] ?
    video.srcObject.getVideoTracks()[0].getSettings() : {};
  const fps = video.requestVideoFrameCallback ? frames / seconds : (settings.frameRate || 0);
  const result = {
    fps: Math.round(fps * 10) / 10,
    arriving: samples > 0,
    black: samples > 0 && black / samples > 1 / 3,
    frozen: samples > 1 && frozen / (samples - 1) > 2 / 3,
  };
  result.ok = result.arriving && result.fps >= 5 && !result.black && !result.frozen;
  return result;
}

// Microphone: level in dBFS over a few seconds, and clipping. `onLevel` drives the meter.
export function analyseMicrophone(stream, audioContext, { durationMs = 3000, onLevel } = {}) {
  const source = audioContext.createMediaStreamSource(stream);
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let peakDbfs = -Infinity;
  let clipping = false;
  const started = now();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      let run = 0;
      for (const s of samples) {
        sum += s * s;
        run = Math.abs(s) >= 0.99 ? run + 1 : 0;
        if (run > CLIP_RUN) clipping = true;
      }
      const rms = Math.sqrt(sum / samples.length);
      const dbfs = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
      peakDbfs = Math.max(peakDbfs, dbfs);
      if (onLevel) onLevel(dbfs);
      // Done early once sound is heard, but keep at least one second to catch clipping.
      const elapsed = now() - started;
      if (elapsed >= durationMs || (peakDbfs > SILENCE_DBFS && elapsed >= 1000)) {
        clearInterval(timer);
        source.disconnect();
        resolve({ peakDbfs: Math.round(peakDbfs), ok: peakDbfs > SILENCE_DBFS, clipping });
      }
    }, 50);
  });
}

// Speaker: a short, soft tone; the person says whether they heard it.
export function playTone(audioContext, durationS = 0.8) {
  const osc = audioContext.createOscillator();
  const gain = audioContext.createGain();
  osc.frequency.value = 440;
  const t = audioContext.currentTime;
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(0.2, t + 0.05);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + durationS);
  osc.connect(gain).connect(audioContext.destination);
  osc.start(t);
  osc.stop(t + durationS + 0.05);
}
