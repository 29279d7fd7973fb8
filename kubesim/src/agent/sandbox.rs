//! The sandbox a learner's shell runs in: Debian's bubblewrap (`bwrap`), with rlimits set
//! by util-linux's `prlimit` inside it.
//!
//! The agent runs in the test's or the demo's process, often as root, on a machine whose
//! loopback serves PostgreSQL with trust authentication and the simulated API server; a
//! shell that could reach either, or write to the host, would turn a simulated lab into
//! a real hole. So each shell gets:
//!
//! - its own user namespace, as uid 1000 named after the image's login; when the agent
//!   runs as root, bwrap itself is started as `nobody` first, so host files appear owned
//!   by no one and an escape would land unprivileged; every capability is dropped and no
//!   further user namespace can be made;
//! - new PID, IPC, UTS (hostname: the endpoint), cgroup and network namespaces; the new
//!   network namespace has only its own `lo`, not the host's loopback: none of the
//!   host's listeners (the database, the API, other pods' 127.x addresses) is reachable;
//! - read-only binds of `/usr` (and `/bin`, `/sbin`, `/lib*` as the host has them: links
//!   into `/usr` on Debian), a minimal `/etc` (the dynamic linker's cache, alternatives,
//!   terminfo, readline, time zone) plus `passwd`, `group`, `hosts` and `hostname` made
//!   for the session, fresh `/proc` and `/dev`, and size-capped private tmpfs `/tmp` and
//!   home: the only writable places, gone with the session;
//! - `--die-with-parent`: killing bwrap (the agent does when the channel, the connection
//!   or the pod goes) kills the namespace's init and so every process in it;
//! - rlimits ([`Limits`]) set inside the namespaces, so the process count is this
//!   sandbox's own (it is counted per user namespace) and not shared with other shells.
//!
//! Learners' shells in the real labs reach the lab's other endpoints by name; this
//! sandbox does not (that would need a routed namespace per lab), which the simulator's
//! tests do not need.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

/// The sandbox's program (Debian's `bubblewrap` package).
pub const BWRAP: &str = "bwrap";
/// Sets the rlimits inside the sandbox (util-linux, essential on Debian).
const PRLIMIT: &str = "/usr/bin/prlimit";
/// The shell.
const SHELL: &str = "/bin/bash";
/// The uid and gid the shell has inside its user namespace.
const INNER_ID: &str = "1000";
/// `nobody`: what bwrap runs as outside when the agent is root.
const NOBODY: u32 = 65534;
/// `/etc` entries bound read-only when the host has them: what bash, coreutils and
/// terminal programs read, and no more.
const ETC_ENTRIES: &[&str] = &[
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "inputrc",
    "terminfo",
    "nsswitch.conf",
];
/// Top-level directories that are links into `/usr` on a merged-usr system.
const ROOT_LIBS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// The login name used when the image's is not a safe passwd name.
const FALLBACK_USER: &str = "learner";

/// What one shell may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds of each process (`RLIMIT_CPU`).
    pub cpu_secs: u64,
    /// Address space of each process (`RLIMIT_AS`).
    pub address_space_bytes: u64,
    /// Processes of the sandbox's user (`RLIMIT_NPROC`, counted in its user namespace).
    pub processes: u64,
    /// Largest file a process may write (`RLIMIT_FSIZE`).
    pub file_size_bytes: u64,
    /// Open descriptors of each process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Size of each of the two tmpfs mounts (home and `/tmp`).
    pub tmpfs_bytes: u64,
    /// Wall time after which the session's shell is killed.
    pub session: Duration,
}

impl Default for Limits {
    /// A lab shell's needs with room to spare, and small enough that a fork bomb, a
    /// runaway loop or a filled disk stays the learner's own problem: 2 CPU minutes,
    /// 1 GiB of address space, 64 processes, 16 MiB files, 256 descriptors, 32 MiB per
    /// tmpfs, one hour (the lessons' own lifetime is 30 minutes of inactivity).
    fn default() -> Self {
        Self {
            cpu_secs: 120,
            address_space_bytes: 1 << 30,
            processes: 64,
            file_size_bytes: 16 << 20,
            open_files: 256,
            tmpfs_bytes: 32 << 20,
            session: Duration::from_secs(3600),
        }
    }
}

/// What the shell is for.
#[derive(Debug, Clone)]
pub(crate) struct Spec<'a> {
    /// The endpoint (the pod's name): hostname and prompt.
    pub endpoint: &'a str,
    /// The login's user name.
    pub user: &'a str,
    /// `TERM` from the client's pty request.
    pub term: &'a str,
    /// The command of an `exec` request; `None` for an interactive shell.
    pub command: Option<&'a str>,
    /// The limits.
    pub limits: &'a Limits,
}

/// The files made for one session's `/etc`, removed when dropped.
#[derive(Debug)]
pub(crate) struct EtcFiles {
    dir: tempfile::TempDir,
}

/// A name safe in `passwd` and a path: `[A-Za-z0-9._-]`, not starting with `-` or `.`,
/// at most 32 characters.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The user name the shell has: the login's, or [`FALLBACK_USER`] when that would not
/// be a valid passwd entry.
pub(crate) fn shell_user(login_user: &str) -> &str {
    if safe_name(login_user) {
        login_user
    } else {
        FALLBACK_USER
    }
}

impl EtcFiles {
    /// Writes `passwd`, `group`, `hosts` and `hostname` for `spec` into a new directory
    /// that `nobody` can read (bwrap binds them from there).
    pub(crate) fn write(spec: &Spec<'_>) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("kubesim-etc-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let user = shell_user(spec.user);
        let host = spec.endpoint;
        let files = [
            (
                "passwd",
                format!(
                    "root:x:0:0:root:/root:/usr/sbin/nologin\n\
                     {user}:x:{INNER_ID}:{INNER_ID}:{user}:/home/{user}:{SHELL}\n\
                     nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                ),
            ),
            (
                "group",
                format!("root:x:0:\n{user}:x:{INNER_ID}:\nnogroup:x:65534:\n"),
            ),
            (
                "hosts",
                format!("127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n::1\tlocalhost\n"),
            ),
            ("hostname", format!("{host}\n")),
        ];
        for (name, text) in files {
            let path = dir.path().join(name);
            let mut file = std::fs::File::create(&path)?;
            file.write_all(text.as_bytes())?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        }
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> OsString {
        self.dir.path().join(name).into_os_string()
    }
}

/// The arguments of `bwrap` for `spec`, ending with the rlimited shell.
pub(crate) fn bwrap_args(spec: &Spec<'_>, etc: &EtcFiles) -> Vec<OsString> {
    let user = shell_user(spec.user);
    let home = format!("/home/{user}");
    let limits = spec.limits;
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&[
        "--unshare-all",
        "--unshare-user",
        "--uid",
        INNER_ID,
        "--gid",
        INNER_ID,
        "--hostname",
        spec.endpoint,
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--clearenv",
    ]);
    let prompt = format!("{}$ ", spec.endpoint);
    for (key, value) in [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", home.as_str()),
        ("USER", user),
        ("LOGNAME", user),
        ("SHELL", SHELL),
        ("TERM", spec.term),
        ("PS1", prompt.as_str()),
        ("LANG", "C.UTF-8"),
    ] {
        push(&["--setenv", key, value]);
    }
    push(&["--ro-bind", "/usr", "/usr"]);
    for name in ROOT_LIBS {
        let path = format!("/{name}");
        match std::fs::read_link(&path) {
            Ok(target) => {
                args.push("--symlink".into());
                args.push(target.into_os_string());
                args.push(path.into());
            }
            Err(_) if Path::new(&path).is_dir() => {
                args.extend(["--ro-bind".into(), path.clone().into(), path.into()]);
            }
            Err(_) => {}
        }
    }
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["--dir", "/etc"]);
    for name in ETC_ENTRIES {
        let path = format!("/etc/{name}");
        push(&["--ro-bind-try", &path, &path]);
    }
    for name in ["passwd", "group", "hosts", "hostname"] {
        args.push("--ro-bind".into());
        args.push(etc.path(name));
        args.push(format!("/etc/{name}").into());
    }
    let tmpfs = limits.tmpfs_bytes.to_string();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&[
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        &tmpfs,
        "--tmpfs",
        "/tmp",
        "--size",
        &tmpfs,
        "--tmpfs",
        &home,
        // The root bwrap built (with `/etc` and the mount points) read-only too: the two
        // tmpfs mounts stay the only writable places.
        "--remount-ro",
        "/",
        "--chdir",
        &home,
        "--",
    ]);
    push(&[
        PRLIMIT,
        &format!("--cpu={}", limits.cpu_secs),
        &format!("--as={}", limits.address_space_bytes),
        &format!("--nproc={}", limits.processes),
        &format!("--fsize={}", limits.file_size_bytes),
        &format!("--nofile={}", limits.open_files),
        "--",
        SHELL,
        "--noprofile",
        "--norc",
    ]);
    match spec.command {
        Some(command) => push(&["-c", command]),
        None => push(&["-i"]),
    }
    args
}

/// The command that starts the sandboxed shell on a pty: bwrap, as `nobody` when the
/// agent is root, killed if the command is dropped.
pub(crate) fn command(spec: &Spec<'_>, etc: &EtcFiles) -> pty_process::Command {
    let mut command = pty_process::Command::new(BWRAP)
        .args(bwrap_args(spec, etc))
        .env_clear()
        .kill_on_drop(true);
    if rustix::process::getuid().is_root() {
        command = command.uid(NOBODY).gid(NOBODY);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_login_names_become_the_fallback() {
        assert_eq!(shell_user("antidote"), "antidote");
        assert_eq!(shell_user("a:b"), FALLBACK_USER);
        assert_eq!(shell_user("../etc"), FALLBACK_USER);
        assert_eq!(shell_user(""), FALLBACK_USER);
        assert_eq!(shell_user("-rf"), FALLBACK_USER);
    }

    #[test]
    fn the_sandbox_has_its_own_network_and_limits() {
        let limits = Limits::default();
        let spec = Spec {
            endpoint: "linux1",
            user: "antidote",
            term: "xterm-color",
            command: None,
            limits: &limits,
        };
        let etc = EtcFiles::write(&spec).expect("etc files");
        let args: Vec<String> = bwrap_args(&spec, &etc)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        for wanted in [
            "--unshare-all",
            "--die-with-parent",
            "--hostname linux1",
            "--setenv PS1 linux1$ ",
            "--setenv TERM xterm-color",
            "--ro-bind /usr /usr",
            "--nproc=64",
            "--chdir /home/antidote",
        ] {
            assert!(joined.contains(wanted), "{wanted} in {joined}");
        }
        assert!(!args.iter().any(|a| a == "--share-net"));
        let passwd = std::fs::read_to_string(etc.dir.path().join("passwd")).expect("passwd");
        assert!(passwd.contains("antidote:x:1000:1000:antidote:/home/antidote:/bin/bash"));
    }
}
