//! A real Kubernetes control plane for one test: etcd, kube-apiserver and
//! kube-controller-manager of the pinned release (built by `scripts/k8s-control-plane.sh`),
//! on free loopback ports, with generated certificates and a static token file, stopped
//! when dropped.
//!
//! The API server runs RBAC authorization and its default admission plugins (PodSecurity,
//! LimitRanger and ResourceQuota among them). The controller manager runs only the
//! controllers our objects need: the namespace controller (termination), the job
//! controller, the garbage collector (job pods), the service account controller (the
//! `default` ServiceAccount that pod admission requires) and the resource quota controller
//! (which counts a livelesson's budget before quota admission lets its pods in). There is no kubelet and no scheduler: the node agent plays both.
//!
//! Services get their ClusterIPs from a /20 inside 127.0.0.0/16 that this control plane
//! holds a lock on for its life, so concurrent test processes never share an address and
//! the node agent's listeners stay on addresses the test itself chose.

use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The pinned releases (the build script reads the same file).
const PINS: &str = include_str!("../../scripts/k8s-control-plane.pins");
/// Set to `require` (CI does) to fail instead of skipping when the binaries are absent.
const REQUIRE_ENV: &str = "ANTIDOTE_REAL_CONTROL_PLANE";
/// Overrides the directory holding `etcd`, `kube-apiserver`, `kube-controller-manager`.
const BIN_ENV: &str = "ANTIDOTE_K8S_BIN";
/// How long each component gets to become ready.
const READY_WITHIN: Duration = Duration::from_secs(90);
/// Service ranges: slot `n` (1..=15) is `127.0.(16n).0/20`. 127.0.0.0/20 is left to real
/// local services (PostgreSQL on 127.0.0.1), and kubesim's pod addresses start at 127.1.
const SERVICE_RANGE_SLOTS: u8 = 15;

fn pin(key: &str) -> String {
    PINS.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("scripts/k8s-control-plane.pins has no {key}"))
        .trim()
        .to_owned()
}

/// Where the build script puts the binaries (or `ANTIDOTE_K8S_BIN`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var(BIN_ENV) {
        return PathBuf::from(dir);
    }
    let cache =
        std::env::var("ANTIDOTE_K8S_CACHE").unwrap_or_else(|_| "/var/tmp/antidote-k8s".into());
    Path::new(&cache)
        .join(pin("KUBERNETES_VERSION"))
        .join("bin")
}

/// The release under test, e.g. `v1.33.13`.
pub fn kubernetes_version() -> String {
    pin("KUBERNETES_VERSION")
}

/// One component's process; killed and reaped on drop.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// How it was started, to start it again after a stop.
    command: (PathBuf, Vec<String>),
}

impl Process {
    fn spawn(name: &'static str, dir: &Path, binary: &Path, args: &[String]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let command = (binary.to_owned(), args.to_vec());
        let child = Self::launch(&log, &command);
        Self {
            name,
            child,
            log,
            command,
        }
    }

    /// Starts the command, appending to the log (a restart keeps what came before).
    fn launch(log: &Path, (binary, args): &(PathBuf, Vec<String>)) -> Child {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("component log file");
        let err = out.try_clone().expect("component log file");
        Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()))
    }

    /// Stops the process as an init system would (SIGTERM, then SIGKILL after a grace
    /// period of 10 s: kube-apiserver lets open requests drain for longer) and reaps it.
    fn terminate(&mut self) {
        sigterm(&self.child, self.name);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.exited().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the same command again, with the same ports, certificates and data.
    fn restart(&mut self) {
        self.child = Self::launch(&self.log, &self.command);
    }

    /// The last lines of the component's log, for failure messages.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn fail(&mut self, what: &str) -> ! {
        panic!(
            "{} {what}; last lines of {}:\n{}",
            self.name,
            self.log.display(),
            self.tail()
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A /20 of 127.0.0.0/16 held through an exclusive lock on a file for as long as it lives.
pub struct ServiceRange {
    /// The first address of the range (`127.0.X.0`).
    pub base: Ipv4Addr,
    _lock: File,
}

impl ServiceRange {
    fn claim() -> Self {
        for slot in 1..=SERVICE_RANGE_SLOTS {
            let path = std::env::temp_dir().join(format!("antidote-k8s-service-range-{slot}.lock"));
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
            if file.try_lock().is_ok() {
                return Self {
                    base: Ipv4Addr::new(127, 0, slot * 16, 0),
                    _lock: file,
                };
            }
        }
        panic!("all {SERVICE_RANGE_SLOTS} service ranges are held by other control planes")
    }

    /// `127.0.X.0/20`, for `--service-cluster-ip-range`.
    pub fn cidr(&self) -> String {
        format!("{}/20", self.base)
    }

    /// Whether `ip` lies in this range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) >> 12 == u32::from(self.base) >> 12
    }
}

/// Static bearer tokens of the identities the test uses.
struct Tokens {
    admin: String,
    controller_manager: String,
    agent: String,
}

impl Tokens {
    fn generate() -> Self {
        let token = || format!("{:032x}", rand::random::<u128>());
        Self {
            admin: token(),
            controller_manager: token(),
            agent: token(),
        }
    }

    /// The `--token-auth-file` CSV: token, user, uid, groups.
    fn csv(&self) -> String {
        format!(
            "{},antidote-test-admin,admin,\"system:masters\"\n\
             {},system:kube-controller-manager,kcm,\"system:masters\"\n\
             {},system:node:antidote-agent,agent,\"system:masters,system:nodes\"\n",
            self.admin, self.controller_manager, self.agent
        )
    }
}

/// Audit every request of ServiceAccounts (the scheduler's identity) at the metadata
/// level once it completes; nothing else.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  userGroups: [\"system:serviceaccounts\"]
- level: None
";

/// One request in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Audited {
    /// Who made it.
    pub user: String,
    /// The RBAC verb (`get`, `list`, `watch`, `create`, ...).
    pub verb: String,
    /// The API group (`""` for core).
    pub group: String,
    /// `resource` or `resource/subresource`.
    pub resource: String,
    /// The object's namespace (`""` for cluster-scoped objects and collections).
    pub namespace: String,
    /// The object's name (`""` for a collection; a create's is taken from its body).
    pub name: String,
    /// The HTTP status of the answer.
    pub code: u16,
}

/// A running control plane. Dropping it stops every component and removes its files.
pub struct ControlPlane {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The ClusterIP range the API server allocates from.
    pub service_range: ServiceRange,
    dir: tempfile::TempDir,
    ca_file: PathBuf,
    tokens: Tokens,
    // Dropped in reverse start order: controllers, API server, then etcd.
    controller_manager: Option<Process>,
    apiserver: Option<Process>,
    etcd: Option<Process>,
}

impl ControlPlane {
    /// Starts a control plane, or returns `None` after printing why the test is skipped
    /// when the binaries have not been built (panics instead when `ANTIDOTE_REAL_CONTROL_PLANE=require`).
    pub async fn start_or_skip(test: &str) -> Option<Self> {
        let bin = bin_dir();
        let missing: Vec<&str> = ["etcd", "kube-apiserver", "kube-controller-manager"]
            .into_iter()
            .filter(|b| !bin.join(b).is_file())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "{test}: skipped: no real control plane ({} missing in {}); \
                 build it with `bash scripts/k8s-control-plane.sh` (Go >= 1.24)",
                missing.join(", "),
                bin.display()
            );
            assert!(
                std::env::var(REQUIRE_ENV).as_deref() != Ok("require"),
                "{message}, and {REQUIRE_ENV}=require"
            );
            eprintln!("{message}");
            return None;
        }
        Some(Self::start(&bin).await)
    }

    async fn start(bin: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("antidote-k8s-")
            .tempdir()
            .expect("temporary directory");
        let service_range = ServiceRange::claim();
        let tokens = Tokens::generate();
        let pki = Pki::write(dir.path());
        std::fs::write(dir.path().join("tokens.csv"), tokens.csv()).expect("token file");
        std::fs::write(dir.path().join("audit-policy.yaml"), AUDIT_POLICY).expect("audit policy");

        let mut plane = Self {
            url: String::new(),
            service_range,
            ca_file: pki.ca_file.clone(),
            tokens,
            controller_manager: None,
            apiserver: None,
            etcd: None,
            dir,
        };
        let etcd_url = plane.start_etcd(bin).await;
        plane.start_apiserver(bin, &pki, &etcd_url).await;
        plane.start_controller_manager(bin).await;
        plane
    }

    async fn start_etcd(&mut self, bin: &Path) -> String {
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let data = self.dir.path().join("etcd");
        let args = [
            "--name=default".to_owned(),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            // A test cluster's data is disposable: skip fsync for speed.
            "--unsafe-no-fsync".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        let mut etcd = Process::spawn("etcd", self.dir.path(), &bin.join("etcd"), &args);
        let health = format!("{client_url}/health");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(reply) = http.get(&health).send().await
                && let Ok(body) = reply.text().await
                && body.contains("\"health\":\"true\"")
            {
                break;
            }
            if etcd.exited().is_some() {
                etcd.fail("exited before becoming healthy");
            }
            if Instant::now() > deadline {
                etcd.fail("was not healthy in time");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.etcd = Some(etcd);
        client_url
    }

    async fn start_apiserver(&mut self, bin: &Path, pki: &Pki, etcd_url: &str) {
        let port = free_port();
        self.url = format!("https://127.0.0.1:{port}");
        let dir = self.dir.path();
        let issuer = "https://kubernetes.default.svc.cluster.local";
        let args = [
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--secure-port={port}"),
            format!("--tls-cert-file={}", pki.serving_cert.display()),
            format!("--tls-private-key-file={}", pki.serving_key.display()),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--token-auth-file={}", dir.join("tokens.csv").display()),
            "--authorization-mode=RBAC".to_owned(),
            // Reach node agents (pod logs) at the 127.x address each reports, never
            // through a name: a name would be looked up in the machine's DNS.
            "--kubelet-preferred-address-types=InternalIP".to_owned(),
            // The defaults, named so that the log shows PodSecurity and the resource
            // budgets' quota and limit range plugins are on.
            "--enable-admission-plugins=PodSecurity,LimitRanger,ResourceQuota".to_owned(),
            format!("--service-cluster-ip-range={}", self.service_range.cidr()),
            format!("--service-account-issuer={issuer}"),
            format!("--api-audiences={issuer}"),
            format!("--service-account-key-file={}", pki.sa_public_key.display()),
            format!(
                "--service-account-signing-key-file={}",
                pki.sa_key.display()
            ),
            // Trusted lab images run privileged, as on the clusters the scheduler targets.
            "--allow-privileged=true".to_owned(),
            // The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints
            // validation refuses; nothing here talks to the API through that Service.
            "--endpoint-reconciler-type=none".to_owned(),
            "--profiling=false".to_owned(),
            format!(
                "--audit-policy-file={}",
                dir.join("audit-policy.yaml").display()
            ),
            format!("--audit-log-path={}", dir.join("audit.log").display()),
            "--audit-log-format=json".to_owned(),
        ];
        let mut apiserver =
            Process::spawn("kube-apiserver", dir, &bin.join("kube-apiserver"), &args);
        self.write_kubeconfig("admin.kubeconfig", &self.tokens.admin);
        self.write_kubeconfig(
            "controller-manager.kubeconfig",
            &self.tokens.controller_manager,
        );
        self.write_kubeconfig("agent.kubeconfig", &self.tokens.agent);
        self.wait_apiserver_ready(&mut apiserver).await;
        self.apiserver = Some(apiserver);
    }

    /// Waits until the API server answers `/readyz` with `ok` (etcd reachable, its
    /// post-start hooks done).
    async fn wait_apiserver_ready(&self, apiserver: &mut Process) {
        let client = self.admin_client().await;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let ready = axum::http::Request::get("/readyz")
                .body(Vec::new())
                .expect("request");
            if client.request_text(ready).await.is_ok_and(|t| t == "ok") {
                return;
            }
            if apiserver.exited().is_some() {
                apiserver.fail("exited before becoming ready");
            }
            if Instant::now() > deadline {
                apiserver.fail("was not ready in time");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops kube-apiserver (SIGTERM): every client's connection drops and new ones are
    /// refused until [`ControlPlane::start_apiserver_again`].
    pub fn stop_apiserver(&mut self) {
        self.apiserver
            .as_mut()
            .expect("the API server runs")
            .terminate();
    }

    /// Starts the stopped kube-apiserver again on the same address and waits until it is
    /// ready.
    pub async fn start_apiserver_again(&mut self) {
        let mut apiserver = self.apiserver.take().expect("the API server was started");
        apiserver.restart();
        self.wait_apiserver_ready(&mut apiserver).await;
        self.apiserver = Some(apiserver);
    }

    /// Stops etcd (SIGTERM): the API server stays up, but its storage is gone until
    /// [`ControlPlane::start_etcd_again`].
    pub fn stop_etcd(&mut self) {
        self.etcd.as_mut().expect("etcd runs").terminate();
    }

    /// Starts the stopped etcd again on its data directory and waits until the API server
    /// is ready over it.
    pub async fn start_etcd_again(&mut self) {
        self.etcd.as_mut().expect("etcd was started").restart();
        let mut apiserver = self.apiserver.take().expect("the API server runs");
        self.wait_apiserver_ready(&mut apiserver).await;
        self.apiserver = Some(apiserver);
    }

    async fn start_controller_manager(&mut self, bin: &Path) {
        let dir = self.dir.path();
        let kubeconfig = dir.join("controller-manager.kubeconfig");
        let args = [
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--authentication-kubeconfig={}", kubeconfig.display()),
            format!("--authorization-kubeconfig={}", kubeconfig.display()),
            // Nothing reads its metrics or health endpoints: serve none.
            "--secure-port=0".to_owned(),
            "--leader-elect=false".to_owned(),
            // The quota controller counts each livelesson's ResourceQuota: until it has,
            // quota admission refuses the namespace's pods.
            "--controllers=namespace-controller,job-controller,garbage-collector-controller,serviceaccount-controller,resourcequota-controller".to_owned(),
            "--use-service-account-credentials=false".to_owned(),
            "--kube-api-qps=200".to_owned(),
            "--kube-api-burst=400".to_owned(),
            "--profiling=false".to_owned(),
        ];
        let mut manager = Process::spawn(
            "kube-controller-manager",
            dir,
            &bin.join("kube-controller-manager"),
            &args,
        );
        // The service account controller is running once `default` has its ServiceAccount.
        let accounts: Api<ServiceAccount> = Api::namespaced(self.admin_client().await, "default");
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if accounts.get_opt("default").await.is_ok_and(|a| a.is_some()) {
                break;
            }
            if manager.exited().is_some() {
                manager.fail("exited before its controllers ran");
            }
            if Instant::now() > deadline {
                manager.fail("did not create the default ServiceAccount in time");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The garbage collector works once a dependent of a deleted owner goes: until its
        // graph is built, deletes that cascade (Jobs' pods) would wait on it.
        let maps: Api<ConfigMap> = Api::namespaced(self.admin_client().await, "default");
        let owner = maps
            .create(
                &PostParams::default(),
                &serde_json::from_value(
                    serde_json::json!({"metadata": {"name": "gc-probe-owner"}}),
                )
                .expect("owner"),
            )
            .await
            .expect("probe owner created");
        let dependent: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {
            "name": "gc-probe-dependent",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                "name": "gc-probe-owner", "uid": owner.metadata.uid}],
        }}))
        .expect("dependent");
        maps.create(&PostParams::default(), &dependent)
            .await
            .expect("probe dependent created");
        maps.delete("gc-probe-owner", &DeleteParams::background())
            .await
            .expect("probe owner deleted");
        loop {
            if maps
                .get_opt("gc-probe-dependent")
                .await
                .is_ok_and(|d| d.is_none())
            {
                break;
            }
            if manager.exited().is_some() {
                manager.fail("exited before its garbage collector ran");
            }
            if Instant::now() > deadline {
                manager.fail("did not collect a dependent in time");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.controller_manager = Some(manager);
    }

    /// Writes a kubeconfig for `token` into the control plane's directory and returns its
    /// path.
    fn write_kubeconfig(&self, file: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\nusers:\n- name: test\n  user:\n    token: {token}\n",
            url = self.url,
            ca = self.ca_file.display(),
        );
        let mut file = File::create(&path).expect("kubeconfig");
        file.write_all(text.as_bytes()).expect("kubeconfig written");
        path
    }

    /// Every audited request so far (ServiceAccounts' requests only).
    pub fn audit(&self) -> Vec<Audited> {
        let text = std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|event| {
                let text = |pointer: &str| {
                    event
                        .pointer(pointer)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let resource = text("/objectRef/resource");
                if resource.is_empty() {
                    return None;
                }
                let sub = text("/objectRef/subresource");
                Some(Audited {
                    user: text("/user/username"),
                    verb: text("/verb"),
                    group: text("/objectRef/apiGroup"),
                    resource: if sub.is_empty() {
                        resource
                    } else {
                        format!("{resource}/{sub}")
                    },
                    namespace: text("/objectRef/namespace"),
                    name: text("/objectRef/name"),
                    code: event
                        .pointer("/responseStatus/code")
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(0),
                })
            })
            .collect()
    }

    /// The CA that signed the API server's serving certificate (valid for 127.0.0.1 and
    /// localhost): what a pod finds as `ca.crt` beside its ServiceAccount token.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The API server's port on 127.0.0.1 (`KUBERNETES_SERVICE_PORT` of in-cluster
    /// clients).
    pub fn port(&self) -> u16 {
        self.url
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .expect("the API server's URL ends with its port")
    }

    /// The kubeconfig of the cluster administrator (`system:masters`).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// The kubeconfig the node agent uses.
    pub fn agent_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("agent.kubeconfig")
    }

    /// A client from a kubeconfig file, built as any kube-rs user builds one.
    pub async fn client_from(path: &Path) -> Client {
        let kubeconfig = Kubeconfig::read_from(path).expect("kubeconfig parses");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kubeconfig loads");
        Client::try_from(config).expect("client")
    }

    /// A cluster-admin client.
    pub async fn admin_client(&self) -> Client {
        Self::client_from(&self.admin_kubeconfig()).await
    }

    /// A kubeconfig that authenticates with `token` (a ServiceAccount token, say).
    pub fn kubeconfig_with_token(&self, name: &str, token: &str) -> PathBuf {
        self.write_kubeconfig(&format!("{name}.kubeconfig"), token)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Controllers first so that none of them logs errors about a vanished API server.
        self.controller_manager.take();
        self.apiserver.take();
        self.etcd.take();
    }
}

/// The test PKI: a CA, the API server's serving certificate for 127.0.0.1 and localhost,
/// and the ServiceAccount signing key.
struct Pki {
    ca_file: PathBuf,
    serving_cert: PathBuf,
    serving_key: PathBuf,
    sa_key: PathBuf,
    sa_public_key: PathBuf,
}

impl Pki {
    fn write(dir: &Path) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "antidote-scheduler test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);

        let serving_key = KeyPair::generate().expect("serving key");
        let mut serving =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("serving params");
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving
            .signed_by(&serving_key, &issuer)
            .expect("serving certificate");
        let sa_key = KeyPair::generate().expect("service account key");

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("PKI file");
            path
        };
        Self {
            ca_file: write("ca.crt", ca_cert.pem()),
            serving_cert: write("apiserver.crt", serving_cert.pem()),
            serving_key: write("apiserver.key", serving_key.serialize_pem()),
            sa_key: write("service-account.key", sa_key.serialize_pem()),
            // The verifying side reads public keys only.
            sa_public_key: write("service-account.pub", sa_key.public_key_pem()),
        }
    }
}

/// A port nothing listens on right now (the component binds it moments later).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Sends SIGTERM to `child` (`name` for the failure message).
pub fn sigterm(child: &std::process::Child, name: &str) {
    let pid = child.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(signalled.success(), "kill -TERM {pid} ({name})");
}
