// Follows a session's results (server-sent events) and shows its last two lines in large type.
const params = new URLSearchParams(location.search);
const session = params.get("session");
if (params.get("transparent") === "1") document.body.classList.add("transparent");
const lines = document.getElementById("lines");
const finals = [];
let partial = "";

function render() {
  lines.replaceChildren();
  const shown = partial ? [...finals.slice(-1), partial] : finals.slice(-2);
  shown.forEach((text, i) => {
    const span = document.createElement("span");
    span.className = "line" + (partial && i === shown.length - 1 ? " partial-line" : "");
    span.textContent = text;
    lines.append(span);
  });
}

if (!session) {
  lines.textContent = "Add ?session=ID to follow a session.";
} else {
  const events = new EventSource(`/v1/sessions/${encodeURIComponent(session)}/events`);
  events.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "final") {
      finals.push(msg.text);
      partial = "";
    } else if (msg.type === "partial") partial = msg.text;
    else if (msg.type === "end") events.close();
    render();
  };
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED && !finals.length) lines.textContent = `Session ${session} is not available.`;
  };
}
