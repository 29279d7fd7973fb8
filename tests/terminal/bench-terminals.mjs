// The typing learners of `antidoted bench terminals`: many terminals opened through the
// gateway with socket.io-client 2.x exactly as the front end opens them, then each types
// one character every PERIOD ms; the time from a keystroke to its echo is measured.
//
// Input: one JSON object on stdin:
//   { "gateway": "http://127.0.0.1:PORT",
//     "terminals": [{ "host", "port", "username", "userpassword" }, ...],
//     "periodMs": 100, "typingSecs": 30, "openWithin": 120 }
// Output: progress on stderr; one JSON line on stdout at the end.
import { monitorEventLoopDelay } from "node:perf_hooks";
import io from "socket.io-client";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const period = input.periodMs ?? 100;
const typingMs = (input.typingSecs ?? 30) * 1000;
const openWithinMs = (input.openWithin ?? 120) * 1000;
const CTRL_U = "\u0015";
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

const now = () => Number(process.hrtime.bigint()) / 1e6;
const samples = [];
const errors = {};
const count = (why) => (errors[why] = (errors[why] ?? 0) + 1);

function open(t) {
  return new Promise((resolve) => {
    const socket = io(input.gateway, {
      query: { host: t.host, port: String(t.port), username: t.username, userpassword: t.userpassword },
      reconnection: false,
    });
    const term = { socket, output: "", ready: false, waiting: null, sent: 0 };
    const timer = setTimeout(() => { count("open timeout"); resolve(null); }, openWithinMs);
    socket.on("connect", () => socket.emit("geometry", 80, 24));
    socket.on("data", (text) => {
      if (!term.ready) {
        term.output += text;
        if (term.output.includes("$ ")) {
          term.ready = true;
          clearTimeout(timer);
          resolve(term);
        }
        return;
      }
      if (term.waiting && text.includes(term.waiting.key)) {
        samples.push(now() - term.waiting.at);
        term.waiting = null;
      }
    });
    socket.on("ssherror", (why) => { count(`ssherror: ${why}`); });
    socket.on("disconnect", () => { if (!term.ready) { clearTimeout(timer); resolve(null); } else term.closed = true; });
  });
}

const began = now();
const terms = (await Promise.all(input.terminals.map(open))).filter(Boolean);
const openedMs = now() - began;
process.stderr.write(`opened ${terms.length}/${input.terminals.length} terminals in ${(openedMs / 1000).toFixed(1)} s\n`);
console.error("typing");
// How late this process's own event loop runs while typing: a lower bound on the delay
// this client adds to each measured echo.
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const cpuBefore = process.cpuUsage();

// Typing: each terminal on its own phase within the period, so that the load is even.
let unanswered = 0;
await new Promise((resolve) => {
  const stopAt = now() + typingMs;
  terms.forEach((term, i) => {
    setTimeout(function tick() {
      if (now() >= stopAt || term.closed) return;
      if (term.waiting) { unanswered += 1; term.waiting = null; }
      term.sent += 1;
      if (term.sent % 40 === 0) {
        term.socket.emit("data", CTRL_U); // clear the line, as the guide's run button does
      } else {
        const key = LETTERS[term.sent % LETTERS.length];
        term.waiting = { key, at: now() };
        term.socket.emit("data", key);
      }
      setTimeout(tick, period);
    }, (period * i) / terms.length);
  });
  setTimeout(resolve, typingMs + 2 * period);
});
loop.disable();
const cpu = process.cpuUsage(cpuBefore);
for (const term of terms) term.socket.close();

samples.sort((a, b) => a - b);
const q = (p) => (samples.length ? samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] : null);
const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
console.log(JSON.stringify({
  terminals: input.terminals.length,
  opened: terms.length,
  open_s: round(openedMs / 1000),
  keystrokes: samples.length,
  unanswered,
  echo_p50_ms: round(q(0.5)),
  echo_p99_ms: round(q(0.99)),
  echo_max_ms: round(samples.length ? samples[samples.length - 1] : null),
  driver_loop_delay_p50_ms: round(loop.percentile(50) / 1e6),
  driver_loop_delay_p99_ms: round(loop.percentile(99) / 1e6),
  driver_cores: round((cpu.user + cpu.system) / 1e3 / typingMs),
  errors,
}));
process.exit(0);
