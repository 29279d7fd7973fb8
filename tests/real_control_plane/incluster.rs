//! `antidoted` run as the kubelet would run a container of a rendered Deployment or Job:
//! the real binary with the container's arguments and environment (Secret keys resolved
//! from the API server, as the kubelet resolves them), the ConfigMap volume's files at
//! the container's mount path, and, when the pod mounts a ServiceAccount token, the
//! projected token files at `/var/run/secrets/kubernetes.io/serviceaccount`, with
//! `KUBERNETES_SERVICE_HOST`/`PORT` naming the API server: nothing but the in-cluster
//! configuration reaches Kubernetes (no kubeconfig, no `KUBECONFIG`, no `HOME`).
//!
//! Each process gets a mount namespace of its own (`unshare --mount --propagation
//! private`, as root): a tmpfs on `/run` (`/var/run` is a symlink to it on Debian) holds
//! the token files, and an overlay on `/etc` whose upper layer lives in that tmpfs holds
//! the ConfigMap's files, so the container's `--config /etc/antidote/antidote.yaml` is
//! used as rendered. Both are then read-only, as the kubelet mounts ConfigMap and
//! projected volumes, and so is the root filesystem when the container says
//! `readOnlyRootFilesystem`. The process runs as the pod's `runAsUser`/`runAsGroup`,
//! without capabilities, with `no_new_privs` when privilege escalation is off
//! (`setpriv`). The host's `/run` and `/etc` are never touched: the namespace and its
//! mounts vanish with the process. The network namespace is the host's (every pod here
//! shares the loopback addresses), which is why a serving pod's `httpPort` is changed per
//! process.
//!
//! The client reaches `https://127.0.0.1:PORT` (kube-rs builds the in-cluster URL from
//! the two variables) and verifies the API server against `ca.crt`: the harness's serving
//! certificate names 127.0.0.1, as a cluster's names the `kubernetes` Service's address.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec, Secret, ServiceAccount};
use kube::{Api, Client};

use crate::harness::ControlPlane;
use crate::lab;

/// Whether this process may run pods: a mount namespace, an overlay and a change of user
/// need root (CI runs as root). Otherwise prints why `test` is skipped and returns
/// false, unless `ANTIDOTE_REAL_CONTROL_PLANE=require`, which makes it a failure.
pub fn can_run_pods(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    let missing: Vec<&str> = ["unshare", "setpriv", "mount"]
        .into_iter()
        .filter(|tool| {
            !["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
                .iter()
                .any(|dir| std::path::Path::new(dir).join(tool).is_file())
        })
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let message = format!(
        "{test}: skipped: running antidoted as a pod needs root (a mount namespace of its \
         own) and util-linux's unshare, setpriv and mount (root: {root}, missing: {missing:?})"
    );
    assert!(
        std::env::var("ANTIDOTE_REAL_CONTROL_PLANE").as_deref() != Ok("require"),
        "{message}, and ANTIDOTE_REAL_CONTROL_PLANE=require"
    );
    eprintln!("{message}");
    false
}

/// What the image's entrypoint is here: the binary of this build.
fn antidoted() -> &'static str {
    env!("CARGO_BIN_EXE_antidoted")
}

/// The shell run inside the new mount namespace before `antidoted`. Arguments: the
/// staged files' directory, uid, gid, the ConfigMap's mount path (`-`: none), `yes` when
/// the token is mounted, `ro` for a read-only root filesystem, the `setpriv` flag for
/// privilege escalation; then the command.
const ENTRYPOINT: &str = r#"set -eu
staged=$1 uid=$2 gid=$3 config=$4 token=$5 rootfs=$6 escalation=$7
shift 7
mount -t tmpfs -o mode=0755,size=4m tmpfs /run
if [ "$config" != - ]; then
    mkdir -p /run/.etc/upper /run/.etc/work
    mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/.etc/upper,workdir=/run/.etc/work /etc
    mkdir -p "$config"
    cp "$staged"/config/* "$config"/
    chmod 0644 "$config"/*
    mount -o remount,bind,ro /etc
fi
if [ "$token" = yes ]; then
    mkdir -p /var/run/secrets/kubernetes.io/serviceaccount
    cp "$staged"/serviceaccount/* /var/run/secrets/kubernetes.io/serviceaccount/
    chmod 0644 /var/run/secrets/kubernetes.io/serviceaccount/*
fi
mount -o remount,bind,ro /run
if [ "$rootfs" = ro ]; then
    mount -o remount,bind,ro /
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all \
    --bounding-set=-all "$escalation" "$@"
"#;

/// The first container of a pod template, resolved against the API server as the
/// kubelet resolves it.
#[derive(Debug, Clone)]
pub struct Container {
    /// The pod's namespace.
    pub namespace: String,
    /// The container's `args` (the image's entrypoint is `antidoted`).
    pub args: Vec<String>,
    /// Its environment: literal values and Secret keys, resolved.
    pub env: BTreeMap<String, String>,
    /// The ConfigMap volume's mount path and files, if the container mounts one.
    pub config: Option<(String, BTreeMap<String, String>)>,
    /// The ServiceAccount whose token the pod mounts, if it mounts one.
    pub service_account: Option<String>,
    /// `runAsUser`, `runAsGroup`.
    pub user: (i64, i64),
    /// `readOnlyRootFilesystem`.
    pub read_only_root: bool,
    /// `allowPrivilegeEscalation: false`.
    pub no_new_privs: bool,
    /// `terminationGracePeriodSeconds`: how long the kubelet waits after SIGTERM.
    pub grace: Duration,
}

impl Container {
    /// The first container of `template` in `namespace`: its Secret and ConfigMap
    /// references read through `admin`.
    pub async fn resolve(admin: &Client, namespace: &str, template: &PodTemplateSpec) -> Self {
        let pod = template.spec.as_ref().expect("a pod spec");
        let container = pod.containers.first().expect("a container");
        assert!(
            container.command.is_none(),
            "the chart runs the image's entrypoint"
        );
        let mut env = BTreeMap::new();
        for var in container.env.iter().flatten() {
            let value = if let Some(value) = &var.value {
                value.clone()
            } else {
                let source = var.value_from.as_ref().expect("a value or a source");
                let key = source
                    .secret_key_ref
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: only Secret keys are resolved", var.name));
                let secret = Api::<Secret>::namespaced(admin.clone(), namespace)
                    .get(&key.name)
                    .await
                    .unwrap_or_else(|e| panic!("{}: Secret {}: {e}", var.name, key.name));
                let bytes = secret
                    .data
                    .unwrap_or_default()
                    .remove(&key.key)
                    .unwrap_or_else(|| panic!("{}: no key {} in {}", var.name, key.key, key.name));
                String::from_utf8(bytes.0).expect("a UTF-8 Secret value")
            };
            env.insert(var.name.clone(), value);
        }
        let mut config = None;
        for mount in container.volume_mounts.iter().flatten() {
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == mount.name)
                .expect("the mount's volume");
            let map = volume
                .config_map
                .as_ref()
                .unwrap_or_else(|| panic!("volume {}: only ConfigMaps are mounted", volume.name));
            assert!(
                mount.mount_path.starts_with("/etc/") && config.is_none(),
                "one ConfigMap, under /etc (the overlay): {}",
                mount.mount_path
            );
            let files = Api::<ConfigMap>::namespaced(admin.clone(), namespace)
                .get(&map.name)
                .await
                .unwrap_or_else(|e| panic!("ConfigMap {}: {e}", map.name))
                .data
                .unwrap_or_default();
            config = Some((mount.mount_path.clone(), files));
        }
        let account_name = pod
            .service_account_name
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let automount = match pod.automount_service_account_token {
            Some(automount) => automount,
            None => Api::<ServiceAccount>::namespaced(admin.clone(), namespace)
                .get(&account_name)
                .await
                .unwrap_or_else(|e| panic!("ServiceAccount {account_name}: {e}"))
                .automount_service_account_token
                .unwrap_or(true),
        };
        let pod_security = pod.security_context.clone().unwrap_or_default();
        let security = container.security_context.clone().unwrap_or_default();
        let user = (
            security
                .run_as_user
                .or(pod_security.run_as_user)
                .expect("runAsUser"),
            security
                .run_as_group
                .or(pod_security.run_as_group)
                .expect("runAsGroup"),
        );
        Self {
            namespace: namespace.to_owned(),
            args: container.args.clone().unwrap_or_default(),
            env,
            config,
            service_account: automount.then_some(account_name),
            user,
            read_only_root: security.read_only_root_filesystem == Some(true),
            no_new_privs: security.allow_privilege_escalation == Some(false),
            grace: Duration::from_secs(
                u64::try_from(pod.termination_grace_period_seconds.unwrap_or(30))
                    .expect("a grace period"),
            ),
        }
    }

    /// Changes the YAML file `file` of the mounted ConfigMap (a test-sized setting, a
    /// port of its own); panics when there is no such file.
    pub fn edit_config(&mut self, file: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let (_, files) = self.config.as_mut().expect("a mounted ConfigMap");
        let text = files.get_mut(file).expect("the file in the ConfigMap");
        let mut value: serde_json::Value = serde_norway::from_str(text).expect("YAML");
        edit(&mut value);
        *text = serde_norway::to_string(&value).expect("YAML out");
    }
}

/// One `antidoted` process run as its pod's container; killed when dropped.
pub struct Pod {
    /// The pod's name: the process's `HOSTNAME`, the prefix of its worker id.
    pub name: String,
    child: Child,
    log: PathBuf,
    grace: Duration,
    // The staged files (the process copies them at its start) and the log.
    _dir: tempfile::TempDir,
}

impl Pod {
    /// Starts `container` as pod `name` of `plane`: a fresh token of its ServiceAccount
    /// (TokenRequest, as the kubelet asks for one per pod) when it mounts one.
    pub async fn start(
        name: &str,
        container: &Container,
        plane: &ControlPlane,
        admin: &Client,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("antidote-pod-")
            .tempdir()
            .expect("temporary directory");
        let staged = dir.path();
        let config_path = match &container.config {
            Some((path, files)) => {
                std::fs::create_dir(staged.join("config")).expect("config dir");
                for (file, text) in files {
                    std::fs::write(staged.join("config").join(file), text).expect("config file");
                }
                path.clone()
            }
            None => "-".to_owned(),
        };
        if let Some(account) = &container.service_account {
            let token = lab::account_token(admin, &container.namespace, account).await;
            let files = staged.join("serviceaccount");
            std::fs::create_dir(&files).expect("token dir");
            std::fs::write(files.join("token"), token).expect("token");
            std::fs::copy(plane.ca_file(), files.join("ca.crt")).expect("ca.crt");
            std::fs::write(files.join("namespace"), &container.namespace).expect("namespace");
        }
        let log = staged.join("antidoted.log");
        let out = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                ENTRYPOINT,
                "sh",
            ])
            .arg(staged)
            .arg(container.user.0.to_string())
            .arg(container.user.1.to_string())
            .arg(config_path)
            .arg(if container.service_account.is_some() {
                "yes"
            } else {
                "no"
            })
            .arg(if container.read_only_root { "ro" } else { "rw" })
            .arg(if container.no_new_privs {
                "--no-new-privs"
            } else {
                "--"
            })
            .arg(antidoted())
            .args(&container.args)
            // What the kubelet gives every container: the pod's name, the API server's
            // address, and the image's PATH. Nothing of the test's environment.
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOSTNAME", name)
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", plane.port().to_string())
            .envs(&container.env)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        let child = command.spawn().expect("unshare starts");
        Self {
            name: name.to_owned(),
            child,
            log,
            grace: container.grace,
            _dir: dir,
        }
    }

    /// The exit status, once the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The whole log (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log's last `lines` lines, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Panics with the log's tail if the process has ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!(
                "pod {} exited ({status}):\n{}",
                self.name,
                self.log_tail(40)
            );
        }
    }

    /// Checks, through `/proc`, that the running process is arranged as the doc above
    /// says: its user, no capabilities, `no_new_privs`, a read-only root, the token files
    /// (where it looks for them) when its pod mounts them, and an environment with the
    /// API server's address and nothing that names a kubeconfig.
    pub fn assert_arranged(&self, container: &Container) {
        let proc = PathBuf::from(format!("/proc/{}", self.child.id()));
        let status = std::fs::read_to_string(proc.join("status")).expect("/proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::split_whitespace)
                .map(|words| words.collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        let (uid, gid) = container.user;
        assert_eq!(
            field("Uid:"),
            format!("{uid} {uid} {uid} {uid}"),
            "{}",
            self.name
        );
        assert_eq!(
            field("Gid:"),
            format!("{gid} {gid} {gid} {gid}"),
            "{}",
            self.name
        );
        assert_eq!(field("CapEff:"), "0000000000000000", "{}", self.name);
        assert_eq!(field("CapBnd:"), "0000000000000000", "{}", self.name);
        if container.no_new_privs {
            assert_eq!(field("NoNewPrivs:"), "1", "{}", self.name);
        }
        let mounts = std::fs::read_to_string(proc.join("mountinfo")).expect("mountinfo");
        let options = |point: &str| {
            mounts
                .lines()
                .map(|l| l.split(' ').collect::<Vec<_>>())
                .rfind(|f| f.get(4) == Some(&point))
                .and_then(|f| f.get(5).map(|o| (*o).to_owned()))
                .unwrap_or_default()
        };
        if container.read_only_root {
            assert!(
                options("/").split(',').any(|o| o == "ro"),
                "{}: / is read-only",
                self.name
            );
        }
        assert!(
            options("/run").split(',').any(|o| o == "ro"),
            "{}: /run",
            self.name
        );
        // The process's own view of its files (its mount namespace, through /proc).
        let token_dir = proc.join("root/run/secrets/kubernetes.io/serviceaccount");
        match &container.service_account {
            Some(_) => {
                for file in ["token", "ca.crt", "namespace"] {
                    assert!(token_dir.join(file).is_file(), "{}: {file}", self.name);
                }
                let namespace =
                    std::fs::read_to_string(token_dir.join("namespace")).expect("namespace file");
                assert_eq!(namespace, container.namespace);
            }
            None => assert!(!token_dir.exists(), "{}: no token mounted", self.name),
        }
        if let Some((path, files)) = &container.config {
            for (file, text) in files {
                let seen = std::fs::read_to_string(
                    proc.join("root")
                        .join(path.trim_start_matches('/'))
                        .join(file),
                )
                .expect("the mounted configuration");
                assert_eq!(&seen, text, "{}: {path}/{file}", self.name);
            }
        }
        let environ = std::fs::read(proc.join("environ")).expect("environ");
        let names: Vec<String> = environ
            .split(|b| *b == 0)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .filter_map(|v| v.split_once('=').map(|(k, _)| k.to_owned()))
            .collect();
        assert!(names.iter().any(|n| n == "KUBERNETES_SERVICE_HOST"));
        for absent in ["KUBECONFIG", "HOME", "ANTIDOTE_KUBECONFIG"] {
            assert!(
                !names.iter().any(|n| n == absent),
                "{}: {absent} is set",
                self.name
            );
        }
    }

    /// Waits until the process ends on its own (a Job's container); its status.
    pub async fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pod {} did not end within {within:?}:\n{}",
                self.name,
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process as the kubelet stops a container: SIGTERM, then (after the
    /// pod's `terminationGracePeriodSeconds`) SIGKILL, which fails the test. Returns the
    /// exit status and how long the process took to end.
    pub async fn terminate(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        crate::harness::sigterm(&self.child, &self.name);
        let deadline = started + self.grace;
        loop {
            if let Some(status) = self.exited() {
                return (status, started.elapsed());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "pod {} outlived its grace period of {:?} after SIGTERM:\n{}",
                    self.name,
                    self.grace,
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Pod::terminate`], asserting exit status 0.
    pub async fn stop(&mut self) -> Duration {
        let (status, took) = self.terminate().await;
        assert!(
            status.success(),
            "pod {} ended with {status} after SIGTERM:\n{}",
            self.name,
            self.log_tail(40)
        );
        took
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
