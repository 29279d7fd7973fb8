//! The node agent's SSH server, through a real SSH client (russh's) on a pod's ssh port:
//! logins with the image's credentials, a sandboxed shell on a pty of the requested
//! size, and that shell's confinement and end.
//!
//! Every address used is the pod's 127.x loopback address, or a loopback address inside
//! the sandbox's own network namespace.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use kubesim::agent::login::Login;
use kubesim::{Config, KubeSim};
use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use serde_json::json;

/// The shell's prompt: it names the endpoint.
const PROMPT: &str = "linux1$ ";
/// How long any one expected answer may take.
const WAIT: Duration = Duration::from_secs(20);

struct AnyHostKey;

impl client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// kubesim with one Running pod named `endpoint` of image `image`, its ssh presentation
/// port named as the scheduler names it; returns the pod's address too.
async fn pod_with_ssh(
    endpoint: &str,
    image: &str,
    login: Option<Login>,
) -> (KubeSim, Api<Pod>, Ipv4Addr) {
    let sim = KubeSim::start(Config::default()).await.unwrap();
    if let Some(login) = login {
        sim.knobs().logins().set_image(image, login);
    }
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": endpoint},
        "spec": {"containers": [{"name": endpoint, "image": image,
            "ports": [{"containerPort": 22, "name": "ssh-22"}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let ip = loop {
        let p = pods.get(endpoint).await.unwrap();
        let status = p.status.unwrap_or_default();
        let ready = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            break status.pod_ip.unwrap().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "pod {endpoint} not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (sim, pods, ip)
}

async fn connect(ip: Ipv4Addr) -> Handle<AnyHostKey> {
    let config = Arc::new(client::Config::default());
    client::connect(config, (ip, 22), AnyHostKey).await.unwrap()
}

/// A shell channel and everything it printed so far.
struct Terminal {
    channel: russh::Channel<client::Msg>,
    screen: String,
    exit: Option<u32>,
    closed: bool,
}

impl Terminal {
    async fn open(ssh: &Handle<AnyHostKey>, cols: u32, rows: u32) -> Self {
        let channel = ssh.channel_open_session().await.unwrap();
        channel
            .request_pty(true, "xterm-color", cols, rows, 0, 0, &[])
            .await
            .unwrap();
        channel.request_shell(true).await.unwrap();
        let mut terminal = Self {
            channel,
            screen: String::new(),
            exit: None,
            closed: false,
        };
        terminal.until(|s| s.ends_with(PROMPT)).await;
        terminal
    }

    /// Reads until `done` holds for what the screen shows (or the channel closes).
    async fn until(&mut self, done: impl Fn(&str) -> bool) -> &str {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(&self.screen) {
            let msg = tokio::time::timeout_at(deadline, self.channel.wait())
                .await
                .unwrap_or_else(|_| panic!("timed out; the screen shows {:?}", self.screen));
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    self.screen.push_str(&String::from_utf8_lossy(&data));
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => self.exit = Some(exit_status),
                Some(ChannelMsg::Close) | None => {
                    self.closed = true;
                    break;
                }
                Some(_) => {}
            }
        }
        &self.screen
    }

    /// Types `line` and returns what it printed before the next prompt.
    async fn run(&mut self, line: &str) -> String {
        self.screen.clear();
        self.channel
            .data_bytes(format!("{line}\n").into_bytes())
            .await
            .unwrap();
        // The echoed command line, then the output, then the prompt (a prompt redrawn
        // for a resize may come first).
        let echoed = format!("{line}\n");
        let screen = self
            .until(|s| {
                let s = plain(s);
                s.split_once(&echoed)
                    .is_some_and(|(_, after)| after.ends_with(PROMPT))
            })
            .await;
        let screen = plain(screen);
        let (_, after) = screen.split_once(&echoed).unwrap();
        after.trim_end_matches(PROMPT).to_owned()
    }
}

/// `text` without terminal control sequences (bash turns bracketed paste on and off
/// around each command line) and carriage returns.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next_if_eq(&'[').is_some() {
                    // Parameters and intermediates, then one final byte in @..~.
                    while chars.next_if(|c| !('@'..='~').contains(c)).is_some() {}
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn a_login_with_the_image_credentials_gets_a_sandboxed_shell() {
    let password = token();
    let (sim, _pods, ip) = pod_with_ssh(
        "linux1",
        "antidotelabs/utility:test",
        Some(Login::new("antidote", password.clone())),
    )
    .await;
    let mut ssh = connect(ip).await;
    // A wrong password is an authentication failure, and the connection stays up for
    // the next attempt, as with sshd.
    let wrong = ssh
        .authenticate_password("antidote", "antidotepassword")
        .await
        .unwrap();
    assert!(!wrong.success());
    assert!(!ssh.is_closed());
    assert!(
        ssh.authenticate_password("antidote", password)
            .await
            .unwrap()
            .success()
    );

    let mut term = Terminal::open(&ssh, 100, 30).await;
    let (a, b) = (token(), token());
    // Typed as two quoted halves, so the echoed command line does not contain the answer.
    let out = term.run(&format!("echo '{a}''{b}'")).await;
    assert_eq!(out.trim(), format!("{a}{b}"));
    assert_eq!(term.run("stty size").await.trim(), "30 100");
    term.channel.window_change(120, 40, 0, 0).await.unwrap();
    assert_eq!(term.run("stty size").await.trim(), "40 120");
    assert_eq!(
        term.run("echo $TERM $USER $HOME").await.trim(),
        "xterm-color antidote /home/antidote"
    );

    // Writable: the private home and /tmp only.
    assert_eq!(
        term.run("touch /usr/x 2>/dev/null; echo usr-$?; touch /etc/x 2>/dev/null; echo etc-$?")
            .await
            .trim(),
        "usr-1\netc-1"
    );
    assert_eq!(
        term.run("touch ~/x /tmp/x && echo home-tmp-ok")
            .await
            .trim(),
        "home-tmp-ok"
    );
    assert!(!std::path::Path::new("/usr/x").exists());
    // The sandbox's network namespace has its own loopback and nothing else, so even
    // the pod's own address on the host's loopback (where this client is connected)
    // is not there.
    let interfaces = term
        .run("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
        .await;
    assert_eq!(interfaces.trim(), "lo");
    assert_eq!(
        term.run(&format!(
            "(echo > /dev/tcp/{ip}/22) 2>/dev/null && echo reached || echo unreachable"
        ))
        .await
        .trim(),
        "unreachable"
    );
    // Its own PID namespace: bwrap's init and the shell (`echo` is a builtin: no fork).
    assert_eq!(
        term.run("echo /proc/[0-9]*").await.trim(),
        "/proc/1 /proc/2"
    );
    // Limits are in force.
    assert_eq!(term.run("ulimit -u").await.trim(), "64");

    term.channel.data_bytes(&b"exit 3\n"[..]).await.unwrap();
    term.until(|_| false).await;
    assert!(term.closed);
    assert_eq!(term.exit, Some(3));
    sim.shutdown().await;
}

#[tokio::test]
async fn other_logins_are_refused_as_sshd_refuses_them() {
    let (sim, _pods, ip) = pod_with_ssh("linux1", "antidotelabs/utility:test", None).await;
    let mut ssh = connect(ip).await;
    let none = ssh.authenticate_none("antidote").await.unwrap();
    let russh::client::AuthResult::Failure {
        remaining_methods, ..
    } = none
    else {
        panic!("none accepted");
    };
    let methods: Vec<_> = remaining_methods.iter().collect();
    assert!(
        methods.contains(&&russh::MethodKind::Password),
        "{methods:?}"
    );
    assert!(methods.contains(&&russh::MethodKind::KeyboardInteractive));
    assert!(
        !ssh.authenticate_password("root", "antidotepassword")
            .await
            .unwrap()
            .success()
    );
    // Keyboard-interactive with the original images' fixed login (no rule for this
    // image): one password prompt, not echoed.
    let started = ssh
        .authenticate_keyboard_interactive_start("antidote", None)
        .await
        .unwrap();
    let russh::client::KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } = started
    else {
        panic!("no prompt: {started:?}");
    };
    assert_eq!(prompts.len(), 1);
    assert!(!prompts[0].echo);
    let done = ssh
        .authenticate_keyboard_interactive_respond(vec!["antidotepassword".to_owned()])
        .await
        .unwrap();
    assert!(
        matches!(
            done,
            russh::client::KeyboardInteractiveAuthResponse::Success
        ),
        "{done:?}"
    );
    sim.shutdown().await;
}

/// Whether a process whose command line is exactly `sleep <arg>` runs on this machine.
fn sleeper_runs(arg: &str) -> bool {
    let wanted = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == wanted.as_bytes())
    })
}

/// Waits until the `sleep <arg>` process runs (`running`) or is gone.
async fn until_sleeper(arg: &str, running: bool, what: &str) {
    let deadline = Instant::now() + WAIT;
    while sleeper_runs(arg) != running {
        assert!(
            Instant::now() < deadline,
            "{what}: sleep {arg} running: {}",
            !running
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shells_end_with_their_channel_and_with_their_pod() {
    let (sim, pods, ip) = pod_with_ssh("linux1", "antidotelabs/utility:test", None).await;
    let mut ssh = connect(ip).await;
    assert!(
        ssh.authenticate_password("antidote", "antidotepassword")
            .await
            .unwrap()
            .success()
    );
    // A channel closed by the client takes its shell (and the shell's children) along.
    let mut term = Terminal::open(&ssh, 80, 24).await;
    let first = format!("{}", 100_000 + rand::random::<u32>() % 100_000);
    term.run(&format!("sleep {first} &")).await;
    // bash prints the prompt once it has forked, maybe before `sleep` is exec'd.
    until_sleeper(&first, true, "started in the background").await;
    term.channel.close().await.unwrap();
    until_sleeper(&first, false, "channel closed").await;

    // Deleting the pod ends its connections and their shells.
    let mut term = Terminal::open(&ssh, 80, 24).await;
    let second = format!("{}", 200_000 + rand::random::<u32>() % 100_000);
    term.run(&format!("sleep {second} &")).await;
    until_sleeper(&second, true, "started in the background").await;
    pods.delete("linux1", &DeleteParams::default())
        .await
        .unwrap();
    term.until(|_| false).await;
    assert!(term.closed);
    until_sleeper(&second, false, "pod deleted").await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_session_ends_at_its_time_limit() {
    let sim = KubeSim::start(Config {
        node_agent: false,
        ..Config::default()
    })
    .await
    .unwrap();
    let mut agent_config = kubesim::agent::Config::new("limited-node", sim.knobs().clone());
    agent_config.shell_limits.session = Duration::from_secs(1);
    let agent = kubesim::agent::Agent::start(sim.simulator_client().unwrap(), agent_config)
        .await
        .unwrap();
    let client = Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "linux1"},
        "spec": {"containers": [{"name": "linux1", "image": "utility",
            "ports": [{"containerPort": 22, "name": "ssh-22"}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let ip: Ipv4Addr = loop {
        if let Some(ip) = pods
            .get("linux1")
            .await
            .unwrap()
            .status
            .and_then(|s| s.pod_ip)
        {
            break ip.parse().unwrap();
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The address is published once the pod's listeners are bound.
    let mut ssh = connect(ip).await;
    assert!(
        ssh.authenticate_password("antidote", "antidotepassword")
            .await
            .unwrap()
            .success()
    );
    let mut term = Terminal::open(&ssh, 80, 24).await;
    term.until(|_| false).await;
    assert!(term.closed);
    assert!(
        term.screen.contains("time limit (1 s)"),
        "{:?}",
        term.screen
    );
    assert_eq!(term.exit, Some(128 + 9));
    agent.shutdown().await;
    sim.shutdown().await;
}
