// The typing learners of `antidoted bench terminals`: many terminals opened through the
// gateway with socket.io-client 2.x exactly as the front end opens them, then each types
// one character every PERIOD ms; the time from a keystroke to its echo is measured.
//
// A class's browsers are separate machines; one Node event loop for all of them would
// queue each echo behind the others', a delay no learner has. The benchmark therefore
// spreads the terminals over several of these drivers and starts their typing together.
//
// Input on stdin: one line of JSON,
//   { "gateway": "http://127.0.0.1:PORT",
//     "terminals": [{ "host", "port", "username", "userpassword" }, ...],
//     "periodMs": 100, "typingSecs": 30, "openWithin": 120 }
// then, once this driver has said `opened` on stderr, a line `go` (or the end of stdin)
// starts the typing. Output: progress on stderr; one JSON line on stdout at the end, with
// every echo time in `samples_ms`.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import io from "socket.io-client";

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const input = JSON.parse((await stdin.next()).value);
const period = input.periodMs ?? 100;
const typingMs = (input.typingSecs ?? 30) * 1000;
const openWithinMs = (input.openWithin ?? 120) * 1000;
const CTRL_U = "\u0015";
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

const now = () => Number(process.hrtime.bigint()) / 1e6;
// Every echo time, in a buffer sized for the whole run: the driver's own garbage
// collections pause every terminal's echo at once, so it allocates as little as it can.
let samples = new Float64Array(input.terminals.length * (Math.ceil(typingMs / period) + 2));
let measured = 0;
const record = (ms) => { if (measured < samples.length) samples[measured++] = ms; };
const errors = {};
const count = (why) => (errors[why] = (errors[why] ?? 0) + 1);

function open(t) {
  return new Promise((resolve) => {
    const socket = io(input.gateway, {
      query: { host: t.host, port: String(t.port), username: t.username, userpassword: t.userpassword },
      reconnection: false,
    });
    const term = { socket, output: "", ready: false, waitingKey: null, sentAt: 0, sent: 0 };
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
      if (term.waitingKey !== null && text.includes(term.waitingKey)) {
        record(now() - term.sentAt);
        term.waitingKey = null;
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
await stdin.next(); // `go`
console.error("typing");
// How late this process's own event loop runs while typing: a lower bound on the delay
// this client adds to each measured echo.
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const cpuBefore = process.cpuUsage();

// Typing: each terminal on its own phase within the period, so that the load is even,
// and on a fixed schedule (a late tick does not push the later ones: phases would drift
// together into bursts).
let unanswered = 0;
await new Promise((resolve) => {
  const start = now();
  const stopAt = start + typingMs;
  terms.forEach((term, i) => {
    let due = start + (period * i) / terms.length;
    setTimeout(function tick() {
      if (now() >= stopAt || term.closed) return;
      if (term.waitingKey !== null) { unanswered += 1; term.waitingKey = null; }
      term.sent += 1;
      if (term.sent % 40 === 0) {
        term.socket.emit("data", CTRL_U); // clear the line, as the guide's run button does
      } else {
        term.waitingKey = LETTERS[term.sent % LETTERS.length];
        term.sentAt = now();
        term.socket.emit("data", term.waitingKey);
      }
      due += period;
      setTimeout(tick, Math.max(0, due - now()));
    }, due - start);
  });
  setTimeout(resolve, typingMs + 2 * period);
});
loop.disable();
const cpu = process.cpuUsage(cpuBefore);
for (const term of terms) term.socket.close();

samples = samples.subarray(0, measured).sort();
const q = (p) => (samples.length ? samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] : null);
const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
const answer = JSON.stringify({
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
  samples_ms: Array.from(samples, round),
});
// A pipe takes a large answer asynchronously: exit once it is all written.
process.stdout.write(`${answer}\n`, () => process.exit(0));
