// The demo page: pick a tier, stream the microphone to /v1/listen, render partials and finals.
const $ = (id) => document.getElementById(id);
const finals = []; // {text, start, end, latency_ms}
let socket = null;
let audio = null;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setRunning(running) {
  $("start").disabled = running;
  $("stop").disabled = !running;
  $("tier").disabled = running;
}

async function loadTiers() {
  try {
    const res = await fetch("/v1/tiers");
    const { default: def, tiers } = await res.json();
    for (const t of tiers) {
      const opt = document.createElement("option");
      opt.value = t.name;
      opt.textContent = `${t.name} — ${t.model}, ${t.decoding}${t.beam > 1 ? " " + t.beam : ""}`;
      opt.dataset.info = t.description + (t.wer !== undefined ? ` · WER ${(t.wer * 100).toFixed(1)} %, p95 ${t.latency_p95_ms} ms` : "");
      if (t.name === def) opt.selected = true;
      $("tier").append(opt);
    }
    const info = () => ($("tier-info").textContent = $("tier").selectedOptions[0]?.dataset.info ?? "");
    $("tier").addEventListener("change", info);
    info();
  } catch (e) {
    showError(`Could not load the tiers from the server: ${e}`);
  }
}

function renderPartial(stable, text) {
  $("partial").querySelector(".stable").textContent = stable;
  $("partial").querySelector(".unstable").textContent = text.slice(stable.length);
}

function addFinal(msg) {
  finals.push(msg);
  const li = document.createElement("li");
  li.textContent = msg.text;
  const lat = document.createElement("span");
  lat.className = "latency";
  lat.textContent = `${Math.round(msg.latency_ms)} ms`;
  li.append(lat);
  $("finals").append(li);
  renderPartial("", "");
  $("download-txt").disabled = $("download-srt").disabled = false;
}

async function start() {
  showError("");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
  } catch (e) {
    showError(`The microphone is not available (${e.name}): allow microphone access for this page and try again.`);
    return;
  }
  const ctx = new AudioContext({ sampleRate: 16000 });
  await ctx.audioWorklet.addModule("/mic-worklet.js");
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "mic-frames");
  source.connect(node);
  audio = { ctx, stream, node };

  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/v1/listen?tier=${encodeURIComponent($("tier").value)}&sample_rate=16000`);
  socket.binaryType = "arraybuffer";
  node.port.onmessage = (e) => socket?.readyState === WebSocket.OPEN && socket.send(e.data);
  socket.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "ready") {
      $("status").textContent = `Listening — session ${msg.session} on ${msg.tier.name} (${msg.tier.model})`;
      const link = $("captions-link");
      link.href = `/captions?session=${msg.session}`;
      link.hidden = false;
    } else if (msg.type === "partial") renderPartial(msg.stable, msg.text);
    else if (msg.type === "final") addFinal(msg);
    else if (msg.type === "error") showError(`Server: ${msg.message}`);
  };
  socket.onclose = (e) => {
    if (e.code !== 1000) showError(`The server closed the stream (${e.code}${e.reason ? ": " + e.reason : ""}).`);
    $("status").textContent = "Stopped";
    stopAudio();
    setRunning(false);
    socket = null;
  };
  setRunning(true);
}

function stopAudio() {
  if (!audio) return;
  audio.stream.getTracks().forEach((t) => t.stop());
  audio.ctx.close();
  audio = null;
}

function stop() {
  stopAudio();
  // The server sends the last final, then closes with 1000.
  socket?.send(JSON.stringify({ type: "end" }));
  $("status").textContent = "Finishing…";
}

function stamp(s, sep) {
  const ms = Math.round(s * 1000);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(Math.floor(ms / 3600000))}:${p(Math.floor(ms / 60000) % 60)}:${p(Math.floor(ms / 1000) % 60)}${sep}${p(ms % 1000, 3)}`;
}

function download(name, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  a.download = name;
  a.click();
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
$("download-txt").addEventListener("click", () => download("transcript.txt", finals.map((f) => f.text).join("\n") + "\n"));
$("download-srt").addEventListener("click", () =>
  download("transcript.srt", finals.map((f, i) => `${i + 1}\n${stamp(f.start, ",")} --> ${stamp(f.end, ",")}\n${f.text}\n`).join("\n")),
);
loadTiers();
