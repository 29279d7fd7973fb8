//! The front end's terminal in tests: `driver.js` (socket.io-client 2.3.0, as
//! antidote-ui-components pins it) in one node process, commanded over JSON lines.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// One event the client reported.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub name: String,
    pub data: Value,
}

/// The node process and what it reported.
pub struct Driver {
    _child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Event>,
    backlog: HashMap<String, VecDeque<Event>>,
    screens: HashMap<String, (String, usize)>,
    /// Other events seen while waiting for output: `(event, data)` by terminal.
    seen: HashMap<String, Vec<(String, Value)>>,
}

/// How long any one expectation may take.
pub const WITHIN: Duration = Duration::from_secs(30);

impl Driver {
    pub fn start() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/terminal");
        assert!(
            dir.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `npm ci` in tests/terminal (.ci/run does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("driver.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let value: Value = serde_json::from_str(&line).expect("a JSON line");
                let event = Event {
                    id: value["id"].as_str().unwrap_or_default().to_owned(),
                    name: value["event"].as_str().unwrap_or_default().to_owned(),
                    data: value["data"].clone(),
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Self {
            _child: child,
            stdin,
            events,
            backlog: HashMap::new(),
            screens: HashMap::new(),
            seen: HashMap::new(),
        }
    }

    async fn send(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("driver stdin");
        self.stdin.flush().await.expect("driver stdin");
    }

    /// Opens terminal `id` as the front end does, sized `cols` × `rows`.
    pub async fn open(&mut self, id: &str, origin: &str, query: Value, cols: u32, rows: u32) {
        self.send(json!({"op": "open", "id": id, "url": origin, "query": query, "cols": cols, "rows": rows}))
            .await;
    }

    /// Types `data` in terminal `id`.
    pub async fn type_in(&mut self, id: &str, data: &str) {
        self.send(json!({"op": "data", "id": id, "data": data}))
            .await;
    }

    /// Resizes terminal `id`.
    pub async fn resize(&mut self, id: &str, cols: u32, rows: u32) {
        self.send(json!({"op": "resize", "id": id, "cols": cols, "rows": rows}))
            .await;
    }

    /// Closes terminal `id` from the browser's side.
    pub async fn close(&mut self, id: &str) {
        self.send(json!({"op": "close", "id": id})).await;
    }

    /// The next event of terminal `id`.
    async fn next(&mut self, id: &str) -> Event {
        if let Some(event) = self.backlog.get_mut(id).and_then(VecDeque::pop_front) {
            return event;
        }
        loop {
            let event = tokio::time::timeout(WITHIN, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "terminal {id}: nothing in {WITHIN:?}; screen: {:?}",
                        self.screens.get(id)
                    )
                })
                .expect("the driver runs");
            if event.id == id {
                return event;
            }
            self.backlog
                .entry(event.id.clone())
                .or_default()
                .push_back(event);
        }
    }

    /// Waits for event `name` of terminal `id`, keeping its output; returns its data.
    pub async fn until_event(&mut self, id: &str, name: &str) -> Value {
        loop {
            let event = self.next(id).await;
            if event.name == "data" {
                self.screens
                    .entry(id.to_owned())
                    .or_default()
                    .0
                    .push_str(event.data.as_str().unwrap_or_default());
            }
            if event.name == name {
                return event.data;
            }
            if event.name != "data" {
                self.seen
                    .entry(id.to_owned())
                    .or_default()
                    .push((event.name.clone(), event.data.clone()));
            }
            if name == "data" {
                continue;
            }
            assert!(
                !matches!(event.name.as_str(), "disconnect" | "ssherror") || name == "disconnect",
                "terminal {id}: {} {:?} while waiting for {name}; screen: {:?}; events: {:?}",
                event.name,
                event.data,
                self.screens.get(id),
                self.seen.get(id)
            );
        }
    }

    /// Waits until terminal `id`'s output, past what earlier waits consumed, contains
    /// `needle`; returns that output up to the end of the match.
    pub async fn until_output(&mut self, id: &str, needle: &str) -> String {
        loop {
            let (screen, seen) = self.screens.entry(id.to_owned()).or_default();
            if let Some(at) = screen[*seen..].find(needle) {
                let end = *seen + at + needle.len();
                let text = screen[*seen..end].to_owned();
                *seen = end;
                return text;
            }
            let event = self.next(id).await;
            match event.name.as_str() {
                "data" => self
                    .screens
                    .entry(id.to_owned())
                    .or_default()
                    .0
                    .push_str(event.data.as_str().unwrap_or_default()),
                "disconnect" | "ssherror" | "connect_error" | "error" => panic!(
                    "terminal {id}: {} {:?} while waiting for {needle:?}; screen: {:?}",
                    event.name,
                    event.data,
                    self.screens.get(id)
                ),
                _ => self
                    .seen
                    .entry(id.to_owned())
                    .or_default()
                    .push((event.name, event.data)),
            }
        }
    }

    /// Whether terminal `id` reported `event` with `data` while its output was awaited.
    pub fn saw(&self, id: &str, event: &str, data: &Value) -> bool {
        self.seen
            .get(id)
            .is_some_and(|seen| seen.iter().any(|(e, d)| e == event && d == data))
    }
}
