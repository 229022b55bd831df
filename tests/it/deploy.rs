//! What is shipped in `deploy/` starts a real service: the settings parse, the base alone (no
//! issuers, all interfaces) refuses to start, as the image documentation says, and every
//! Deployment that `kubectl kustomize` renders starts and becomes ready with exactly the
//! environment, command line and files its pod would get (tracker issue 14).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gravida_server::settings::Settings;
use gravida_server::startup::Application;

use serde_json::Value;

use crate::helpers::{RealServer, fixture_path, require_real};

fn deploy_file(relative: &str) -> std::path::PathBuf {
    fixture_path("").join("../../deploy").join(relative)
}

#[test]
fn the_example_overlay_settings_parse_with_a_trusted_issuer() {
    let settings = Settings::load_from(
        Some(&deploy_file("k8s/overlays/example/gravida.toml")),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(settings.listen.port(), 8080);
    assert!(!settings.listen.ip().is_loopback());
    assert_eq!(settings.auth.issuers.len(), 1);
    assert_eq!(settings.public_base(), "https://cds.hospital.example");
}

#[tokio::test]
async fn the_base_settings_alone_refuse_to_start_on_all_interfaces_without_issuers() {
    let mut settings =
        Settings::load_from(Some(&deploy_file("k8s/base/gravida.toml")), Vec::new()).unwrap();
    assert!(settings.auth.issuers.is_empty());
    // Port 0 so the check, not the port, decides.
    settings.listen.set_port(0);
    let refused = Application::build(settings).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("without trusted issuers"),
        "{refused:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Every rendered Deployment, started as its pod would be.
//
// Kubernetes builds a container's process from three sources, and so does this test: the image
// (`deploy/Dockerfile`: ENTRYPOINT, CMD, ENV, the files it copies), the pod spec (`command`,
// `args`, `env`, `envFrom`, volumes), and the kubelet (service-link variables, HOSTNAME). Only
// three things differ from a real pod, each because a test on a shared machine must: the
// volumes are laid out under a temp folder standing for `/` (and every path that names them, in
// the arguments, the environment and the mounted settings, is moved with them), the listen port
// is a free one instead of 8080, and the Secrets, which are created out of band and never
// committed, are stand-ins with the keys the manifests' comments list.
// ---------------------------------------------------------------------------------------------

/// The directory of the repository (where `profiles/` and `deploy/` are).
fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What the image built by `deploy/Dockerfile` gives every container: its runtime stage's
/// ENTRYPOINT, CMD and ENV, and the files it copies from the builder (by their path in the image,
/// with where they are here: the binary Cargo built, or the repository's folder).
struct Image {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    files: Vec<(String, PathBuf)>,
}

fn image() -> Image {
    let text = std::fs::read_to_string(deploy_file("Dockerfile")).expect("deploy/Dockerfile");
    // One string per instruction: continuation lines joined, comment lines dropped (Docker drops
    // them inside a continuation too).
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || (current.is_empty() && line.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let runtime = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("the Dockerfile has a FROM");
    let exec_form = |json: &str| -> Vec<String> {
        serde_json::from_str(json.trim())
            .unwrap_or_else(|e| panic!("ENTRYPOINT and CMD must be in exec form ({e}): {json}"))
    };
    let mut image = Image {
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        env: Vec::new(),
        files: Vec::new(),
    };
    for instruction in &instructions[runtime + 1..] {
        let (keyword, rest) = instruction.split_once(' ').unwrap_or((instruction, ""));
        match keyword {
            "ENTRYPOINT" => image.entrypoint = exec_form(rest),
            "CMD" => image.cmd = exec_form(rest),
            "ENV" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if words.iter().all(|w| w.contains('=')) {
                    for word in words {
                        let (k, v) = word.split_once('=').expect("checked above");
                        image
                            .env
                            .push((k.to_owned(), v.trim_matches('"').to_owned()));
                    }
                } else {
                    // The legacy `ENV NAME value` form.
                    image.env.push((words[0].to_owned(), words[1..].join(" ")));
                }
            }
            "COPY" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let from_builder = words.contains(&"--from=builder");
                let paths: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
                let [source, dest] = paths[..] else {
                    panic!("a COPY with one source and one destination: {instruction}")
                };
                // The builder builds in /src from a copy of the repository.
                let relative = source
                    .strip_prefix("/src/")
                    .filter(|_| from_builder)
                    .unwrap_or_else(|| panic!("a COPY this test cannot place: {instruction}"));
                let here = if relative.starts_with("target/") {
                    PathBuf::from(env!("CARGO_BIN_EXE_gravida"))
                } else {
                    repository().join(relative)
                };
                image.files.push((dest.to_owned(), here));
            }
            "WORKDIR" => panic!("a runtime WORKDIR: teach the test to start the pod there"),
            _ => {}
        }
    }
    image
}

/// Whether `path` is `dir` or inside it.
fn is_under(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/') || dir.ends_with('/'))
}

/// Where the pod's paths are here: a temp folder stands for `/`, the volumes are mounted under it
/// at their `mountPath`, and the image's own files are where Cargo or the repository has them.
/// The folder is removed on drop.
struct PodFiles {
    root: PathBuf,
    /// `mountPath` and whether the volume is writable (only an `emptyDir` is).
    mounts: Vec<(String, bool)>,
    image_files: Vec<(String, PathBuf)>,
}

impl Drop for PodFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl PodFiles {
    /// `path` (a path inside the pod) as the process here must be given it.
    fn here(&self, path: &str) -> String {
        if self.mounts.iter().any(|(mount, _)| is_under(path, mount)) {
            return format!("{}{path}", self.root.display());
        }
        for (dest, here) in &self.image_files {
            if is_under(path, dest) {
                return format!("{}{}", here.display(), &path[dest.len()..]);
            }
        }
        path.to_owned()
    }

    /// A command-line argument or variable value, moved like a path when it is one (also the
    /// value of a `--flag=PATH` argument).
    fn here_in_arg(&self, arg: &str) -> String {
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => format!("{flag}={}", self.here(value)),
            _ => self.here(arg),
        }
    }

    /// A mounted text file with every quoted absolute path in it moved (in one pass, so a path
    /// is never moved twice: the temp folder itself may be under a mounted `/tmp`).
    fn here_in_text(&self, text: &str) -> String {
        let quoted = regex::Regex::new(r#""(/[^"\n]*)"|'(/[^'\n]*)'"#).expect("a valid regex");
        quoted
            .replace_all(text, |caps: &regex::Captures<'_>| {
                match (caps.get(1), caps.get(2)) {
                    (Some(path), _) => format!("\"{}\"", self.here(path.as_str())),
                    (_, Some(path)) => format!("'{}'", self.here(path.as_str())),
                    _ => caps[0].to_owned(),
                }
            })
            .into_owned()
    }

    /// Every file under the root with its size and modification time, to find writes.
    fn snapshot(&self) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, std::time::SystemTime)>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    walk(&path, out);
                }
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                out.insert(path, (meta.len(), modified));
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root, &mut out);
        out
    }

    /// The paths created or changed since `before` outside the writable volumes: each would have
    /// failed in the pod, whose root filesystem and ConfigMap and Secret volumes are read-only.
    fn read_only_writes(
        &self,
        before: &BTreeMap<PathBuf, (u64, std::time::SystemTime)>,
    ) -> Vec<String> {
        self.snapshot()
            .into_iter()
            .filter(|(path, stamp)| before.get(path) != Some(stamp))
            .filter_map(|(path, _)| {
                let inside = path.strip_prefix(&self.root).ok()?;
                let inside = format!("/{}", inside.display());
                let writable = self
                    .mounts
                    .iter()
                    .any(|(mount, writable)| *writable && is_under(&inside, mount));
                (!writable).then_some(inside)
            })
            .collect()
    }
}

/// A Service as the kubelet turns it into variables: name, cluster IP, ports (name, number,
/// protocol).
struct LinkedService {
    name: String,
    cluster_ip: String,
    ports: Vec<(Option<String>, u64, String)>,
}

/// The Services whose links a pod of `namespace` gets: every rendered Service there (the API
/// server assigns the cluster IP; headless ones give none), `kubernetes` from `default` (the
/// kubelet injects it even with `enableServiceLinks: false`), and neighbours a namespace may
/// hold beside Gravida, whose names start with `gravida` too.
fn linked_services(docs: &[Value], namespace: &str) -> Vec<LinkedService> {
    let port = |name: &str, number: u64| (Some(name.to_owned()), number, "TCP".to_owned());
    let mut services = vec![LinkedService {
        name: "kubernetes".to_owned(),
        cluster_ip: "10.96.0.1".to_owned(),
        ports: vec![port("https", 443)],
    }];
    let rendered = docs
        .iter()
        .filter(|d| d["kind"] == "Service" && d["metadata"]["namespace"] == namespace)
        .filter(|d| d["spec"]["clusterIP"] != "None")
        .map(|d| {
            let ports = d["spec"]["ports"].as_array().cloned().unwrap_or_default();
            (
                d["metadata"]["name"]
                    .as_str()
                    .expect("a Service has a name"),
                ports
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().map(str::to_owned),
                            p["port"].as_u64().expect("a Service port has a number"),
                            p["protocol"].as_str().unwrap_or("TCP").to_owned(),
                        )
                    })
                    .collect(),
            )
        })
        .collect::<Vec<(&str, Vec<_>)>>();
    let neighbours = [
        ("gravida-postgres", vec![port("postgres", 5432)]),
        ("gravida-metrics", vec![port("metrics", 9090)]),
        ("gravida-store", vec![port("postgres", 5432)]),
    ];
    for (i, (name, ports)) in rendered.into_iter().chain(neighbours).enumerate() {
        services.push(LinkedService {
            name: name.to_owned(),
            cluster_ip: format!("10.96.12.{}", 10 + i),
            ports,
        });
    }
    services
}

/// The kubelet's service-link variables (`envvars.FromServices`): `{NAME}_SERVICE_HOST`,
/// `{NAME}_SERVICE_PORT` (the first port), `{NAME}_SERVICE_PORT_{PORT_NAME}`, and the Docker-link
/// ones, `{NAME}_PORT` and `{NAME}_PORT_{port}_{PROTO}[_PROTO|_PORT|_ADDR]`.
fn link_variables(services: &[LinkedService]) -> Vec<(String, String)> {
    let upper = |s: &str| s.to_ascii_uppercase().replace('-', "_");
    let mut env = Vec::new();
    for service in services {
        let name = upper(&service.name);
        let ip = &service.cluster_ip;
        let Some((_, first, first_proto)) = service.ports.first() else {
            continue;
        };
        env.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        env.push((format!("{name}_SERVICE_PORT"), first.to_string()));
        for (port_name, number, _) in &service.ports {
            if let Some(port_name) = port_name {
                env.push((
                    format!("{name}_SERVICE_PORT_{}", upper(port_name)),
                    number.to_string(),
                ));
            }
        }
        let url = |proto: &str, number: u64| format!("{}://{ip}:{number}", proto.to_lowercase());
        env.push((format!("{name}_PORT"), url(first_proto, *first)));
        for (_, number, proto) in &service.ports {
            let prefix = format!("{name}_PORT_{number}_{}", proto.to_ascii_uppercase());
            env.push((prefix.clone(), url(proto, *number)));
            env.push((format!("{prefix}_PROTO"), proto.to_lowercase()));
            env.push((format!("{prefix}_PORT"), number.to_string()));
            env.push((format!("{prefix}_ADDR"), ip.clone()));
        }
    }
    env
}

/// Kubernetes' `$(NAME)` expansion in `env` values, `command` and `args`: a defined variable is
/// replaced, `$$` is a `$`, and anything else is left as written.
fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            out.push_str(&lookup(name).unwrap_or_else(|| format!("$({name})")));
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The Secrets the manifests name. They are created out of band and never committed, so each
/// is stood in for with the keys the manifests' comments say it holds.
fn stand_in_secret(name: &str, store_url: &str) -> BTreeMap<String, Vec<u8>> {
    match name {
        // deploy/k8s/overlays/example/deployment-patch.yaml: `url` and `patient-key`.
        "gravida-store" => BTreeMap::from([
            ("url".to_owned(), store_url.as_bytes().to_vec()),
            ("patient-key".to_owned(), vec![7u8; 32]),
        ]),
        other => panic!("the manifests name the Secret {other}: give the test a stand-in for it"),
    }
}

/// The rendered ConfigMap `name`'s text data.
fn config_map<'a>(docs: &'a [Value], name: &str) -> Option<&'a serde_json::Map<String, Value>> {
    let map = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)?;
    assert!(
        map.get("binaryData").is_none(),
        "ConfigMap {name}: binaryData is not laid out by this test"
    );
    Some(map["data"].as_object().expect("a ConfigMap has data"))
}

/// A pod of one rendered Deployment, laid out and ready to start.
struct Pod {
    name: String,
    /// The whole command line: the image's entrypoint (or `command`) and its arguments.
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    files: PodFiles,
    /// The settings the binary will load from this command line and environment.
    settings: Settings,
    /// Each probe's kind and HTTP path, with the container port it names.
    probes: Vec<(String, String, u16)>,
    enable_service_links: Value,
    /// The pod's `terminationGracePeriodSeconds` (Kubernetes' default is 30).
    termination_grace_s: u64,
    /// The container's `lifecycle` (hooks), `null` when it has none.
    lifecycle: Value,
}

/// Lays out the pod of each rendered Deployment of `docs` (see the section comment).
fn pods(docs: &[Value], label: &str, image: &Image, store_url: &str) -> Vec<Pod> {
    let mut pods = Vec::new();
    for deployment in docs.iter().filter(|d| d["kind"] == "Deployment") {
        let name = deployment["metadata"]["name"].as_str().expect("a name");
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        let spec = &deployment["spec"]["template"]["spec"];
        let containers = spec["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{label}/{name}: one container");
        let container = &containers[0];
        let pod_name = format!("{name}-7d9f8c6b5-x2k4q");
        let secret = |name: &str| stand_in_secret(name, store_url);

        // The volumes, each at its mount path under a fresh root: one per pod built, since
        // tests in this process build the same rendered pods at the same time.
        static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "gravida-it-pod-{}-{nth}-{label}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("the pod's root folder");
        let volume = |volume_name: &str| -> &Value {
            spec["volumes"]
                .as_array()
                .and_then(|vs| vs.iter().find(|v| v["name"] == volume_name))
                .unwrap_or_else(|| panic!("{label}/{name}: no volume {volume_name}"))
        };
        let mut mounts: Vec<(String, &Value)> = container["volumeMounts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                assert!(m.get("subPath").is_none(), "{label}/{name}: subPath mounts");
                let path = m["mountPath"].as_str().expect("a mountPath").to_owned();
                (path, volume(m["name"].as_str().expect("a volume name")))
            })
            .collect();
        // Outer mounts first, so a mount inside another is laid over it.
        mounts.sort_by_key(|(path, _)| path.len());
        let files = PodFiles {
            root,
            mounts: mounts
                .iter()
                .map(|(path, v)| (path.clone(), v.get("emptyDir").is_some()))
                .collect(),
            image_files: image.files.clone(),
        };
        for (path, volume) in &mounts {
            let dir = PathBuf::from(files.here(path));
            std::fs::create_dir_all(&dir).expect("a mount folder");
            // (kind, name, items) of each source: a plain configMap or secret volume has one,
            // a projected volume several.
            let sources: Vec<(&str, &str, &Value)> = if volume.get("emptyDir").is_some() {
                Vec::new()
            } else if let Some(map) = volume.get("configMap") {
                vec![(
                    "configMap",
                    map["name"].as_str().expect("a name"),
                    &map["items"],
                )]
            } else if let Some(s) = volume.get("secret") {
                vec![(
                    "secret",
                    s["secretName"].as_str().expect("a name"),
                    &s["items"],
                )]
            } else if let Some(projected) = volume.get("projected") {
                projected["sources"]
                    .as_array()
                    .expect("projected sources")
                    .iter()
                    .map(|source| {
                        let (kind, s) = if let Some(s) = source.get("configMap") {
                            ("configMap", s)
                        } else if let Some(s) = source.get("secret") {
                            ("secret", s)
                        } else {
                            panic!("{label}/{name}: a projected source this test cannot lay out: {source}")
                        };
                        (kind, s["name"].as_str().expect("a name"), &s["items"])
                    })
                    .collect()
            } else {
                panic!("{label}/{name}: a volume this test cannot lay out: {volume}")
            };
            for (kind, source, items) in sources {
                let data: BTreeMap<String, Vec<u8>> = if kind == "configMap" {
                    config_map(docs, source)
                        .unwrap_or_else(|| panic!("{label}/{name}: no rendered ConfigMap {source}"))
                        .iter()
                        .map(|(k, v)| {
                            let text = v.as_str().expect("ConfigMap data is text");
                            (k.clone(), files.here_in_text(text).into_bytes())
                        })
                        .collect()
                } else {
                    secret(source)
                };
                // `items` picks keys and names their files; without it, every key is a file.
                let chosen: Vec<(String, String)> = match items.as_array() {
                    Some(items) => items
                        .iter()
                        .map(|i| {
                            let key = i["key"].as_str().expect("an item key").to_owned();
                            (key, i["path"].as_str().expect("an item path").to_owned())
                        })
                        .collect(),
                    None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
                };
                for (key, file) in chosen {
                    let content = data.get(&key).unwrap_or_else(|| {
                        panic!("{label}/{name}: {kind} {source} has no key {key}")
                    });
                    let target = dir.join(file);
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent).expect("a mounted file's folder");
                    }
                    std::fs::write(target, content).expect("a mounted file");
                }
            }
        }

        // The environment, as the kubelet builds it (`makeEnvironmentVariables`): `envFrom`,
        // then `env` (each value expanded against the variables before it and the service
        // links), then the service links the container did not set itself.
        let links = link_variables(&linked_services(docs, namespace));
        let mut container_env = BTreeMap::<String, String>::new();
        for from in container["envFrom"].as_array().cloned().unwrap_or_default() {
            let prefix = from["prefix"].as_str().unwrap_or("");
            let data: BTreeMap<String, String> = if let Some(r) = from.get("configMapRef") {
                let map_name = r["name"].as_str().expect("a name");
                match config_map(docs, map_name) {
                    Some(data) => data
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                        .collect(),
                    None if r["optional"] == true => BTreeMap::new(),
                    None => panic!("{label}/{name}: envFrom names no ConfigMap {map_name}"),
                }
            } else if let Some(r) = from.get("secretRef") {
                secret(r["name"].as_str().expect("a name"))
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                    .collect()
            } else {
                panic!("{label}/{name}: an envFrom this test cannot read: {from}")
            };
            for (k, v) in data {
                container_env.insert(format!("{prefix}{k}"), v);
            }
        }
        for var in container["env"].as_array().cloned().unwrap_or_default() {
            let var_name = var["name"].as_str().expect("a variable name").to_owned();
            let value = if let Some(value) = var.get("value") {
                let value = value.as_str().unwrap_or("");
                Some(expand(value, |n| {
                    container_env
                        .get(n)
                        .cloned()
                        .or_else(|| links.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
                }))
            } else if let Some(r) = var.pointer("/valueFrom/configMapKeyRef") {
                let map_name = r["name"].as_str().expect("a name");
                let key = r["key"].as_str().expect("a key");
                let value = config_map(docs, map_name).and_then(|d| d.get(key));
                match value {
                    Some(v) => Some(v.as_str().unwrap_or("").to_owned()),
                    None if r["optional"] == true => None,
                    None => panic!("{label}/{name}: {var_name} names a missing {map_name}/{key}"),
                }
            } else if let Some(r) = var.pointer("/valueFrom/secretKeyRef") {
                let key = r["key"].as_str().expect("a key");
                let data = secret(r["name"].as_str().expect("a name"));
                let value = data
                    .get(key)
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                assert!(
                    value.is_some() || r["optional"] == true,
                    "{label}/{name}: {var_name} names a missing Secret key {key}"
                );
                value
            } else if let Some(path) = var.pointer("/valueFrom/fieldRef/fieldPath") {
                Some(match path.as_str().unwrap_or("") {
                    "metadata.name" => pod_name.clone(),
                    "metadata.namespace" => namespace.to_owned(),
                    "spec.serviceAccountName" => spec["serviceAccountName"]
                        .as_str()
                        .unwrap_or("default")
                        .to_owned(),
                    "spec.nodeName" => "node-1".to_owned(),
                    "status.podIP" | "status.podIPs" => "10.244.1.23".to_owned(),
                    "status.hostIP" | "status.hostIPs" => "192.0.2.10".to_owned(),
                    other => panic!("{label}/{name}: a fieldRef this test cannot fill: {other}"),
                })
            } else {
                panic!("{label}/{name}: a variable this test cannot fill: {var}")
            };
            if let Some(value) = value {
                container_env.insert(var_name, value);
            }
        }
        // The links are written whatever the pod spec says, so the pod is shown to start with
        // them even though the manifests turn them off (another Service, or a spec with
        // `enableServiceLinks` back on, must not stop a pod from starting).
        for (k, v) in &links {
            container_env.entry(k.clone()).or_insert_with(|| v.clone());
        }
        // Under all of it, the image's ENV and the runtime's HOSTNAME.
        let mut env: BTreeMap<String, String> = image.env.iter().cloned().collect();
        env.insert("HOSTNAME".to_owned(), pod_name.clone());
        env.extend(container_env);
        for value in env.values_mut() {
            *value = files.here_in_arg(value);
        }

        // The command line: `command` replaces the ENTRYPOINT; `args` replaces the CMD, which
        // is dropped too when only `command` is given.
        let strings = |v: &Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .map(|s| s.as_str().expect("a string").to_owned())
                    .collect()
            })
        };
        let command = strings(&container["command"]);
        let args = strings(&container["args"]).unwrap_or_else(|| match command {
            Some(_) => Vec::new(),
            None => image.cmd.clone(),
        });
        let argv: Vec<String> = command
            .unwrap_or_else(|| image.entrypoint.clone())
            .into_iter()
            .chain(args)
            .map(|a| files.here_in_arg(&expand(&a, |n| env.get(n).cloned())))
            .collect();
        assert_eq!(
            argv.first().map(String::as_str),
            Some(env!("CARGO_BIN_EXE_gravida")),
            "{label}/{name}: the container runs the image's gravida"
        );

        // What the binary will read: `serve --config FILE [--insecure-no-auth]` and the env.
        assert_eq!(
            argv.get(1).map(String::as_str),
            Some("serve"),
            "{label}/{name}"
        );
        let config = argv.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix("--config=").map(str::to_owned).or_else(|| {
                (a == "--config")
                    .then(|| argv.get(i + 1).cloned())
                    .flatten()
            })
        });
        let mut settings = Settings::load_from(
            config.as_deref().map(Path::new),
            env.iter().map(|(k, v)| (k.clone(), v.clone())),
        )
        .unwrap_or_else(|e| panic!("{label}/{name}: the pod's settings do not load: {e}"));
        settings.insecure_no_auth |= argv.iter().any(|a| a == "--insecure-no-auth");

        let mut probes = Vec::new();
        for kind in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let Some(probe) = container.get(kind) else {
                continue;
            };
            let get = probe
                .get("httpGet")
                .unwrap_or_else(|| panic!("{label}/{name}: {kind} is not an httpGet"));
            assert_ne!(
                get["scheme"], "HTTPS",
                "{label}/{name}: {kind} is plain HTTP"
            );
            let port = match &get["port"] {
                Value::Number(n) => n.as_u64(),
                Value::String(port_name) => container["ports"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["name"] == port_name.as_str()))
                    .and_then(|p| p["containerPort"].as_u64()),
                _ => None,
            }
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("{label}/{name}: {kind} names no container port"));
            let path = get["path"].as_str().unwrap_or("/").to_owned();
            probes.push((kind.to_owned(), path, port));
        }
        pods.push(Pod {
            name: format!("{label}/{name}"),
            argv,
            env,
            files,
            settings,
            probes,
            enable_service_links: spec["enableServiceLinks"].clone(),
            termination_grace_s: spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30),
            lifecycle: container["lifecycle"].clone(),
        });
    }
    pods
}

/// `GET path` on the loopback port, as the kubelet probes: the status, if it answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, Duration::from_millis(250)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.32\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// A started pod process. Dropping it kills the process, so a failed assertion leaves nothing
/// running; `stop` kills it and hands back what it wrote.
struct Started {
    child: Child,
    output: Vec<std::thread::JoinHandle<String>>,
}

impl Started {
    fn start(pod: &Pod, env: &BTreeMap<String, String>) -> Started {
        let mut child = Command::new(&pod.argv[0])
            .args(&pod.argv[1..])
            .env_clear()
            // The image's PATH is not needed by gravida; the host's lets nothing surprise.
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .current_dir(&pod.files.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the gravida binary starts");
        let mut output = Vec::new();
        let stdout = child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>);
        for mut pipe in [stdout, stderr].into_iter().flatten() {
            output.push(std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            }));
        }
        Started { child, output }
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the process and returns its stdout and stderr.
    fn stop(&mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut texts = std::mem::take(&mut self.output)
            .into_iter()
            .map(|h| h.join().unwrap_or_default());
        (
            texts.next().unwrap_or_default(),
            texts.next().unwrap_or_default(),
        )
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kubectl kustomize DIR` as YAML documents, or `None` when kubectl cannot be run and is not
/// required (`.ci/run` sets `GRAVIDA_REQUIRE_KUBECTL=1`; `CI=true` requires it too).
fn kustomize(dir: &Path) -> Option<Vec<Value>> {
    let run = Command::new("kubectl").arg("kustomize").arg(dir).output();
    let out = require_real(
        RealServer::Kubectl,
        "starting the rendered deployments",
        run.map_err(|e| format!("kubectl cannot be run ({e})")),
    )?;
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kubectl writes UTF-8");
    let docs = serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("kubectl writes YAML"))
        .collect();
    Some(docs)
}

/// A database URL where nothing listens: port 9 on loopback refuses at once.
const STORE_DOWN: &str = "postgres://gravida:stand-in@127.0.0.1:9/gravida";

#[test]
fn every_rendered_deployment_starts_with_the_environment_its_pod_would_get() {
    let k8s = deploy_file("k8s");
    let mut kustomizations = vec![("base".to_owned(), k8s.join("base"))];
    let mut overlays: Vec<_> = std::fs::read_dir(k8s.join("overlays"))
        .expect("deploy/k8s/overlays")
        .map(|o| o.expect("an overlay"))
        .collect();
    overlays.sort_by_key(|o| o.file_name());
    for overlay in overlays {
        let label = overlay.file_name().to_string_lossy().into_owned();
        kustomizations.push((label, overlay.path()));
    }
    let image = image();
    // The store Secret's URL: a database that is down (Gravida must become ready without it, and
    // answer hooks meanwhile), and a fresh real one when a PostgreSQL test server is given.
    let mut rendered = Vec::new();
    for (label, dir) in &kustomizations {
        let Some(docs) = kustomize(dir) else { return };
        rendered.push((label, docs));
    }
    let mut stores = vec![("store down", STORE_DOWN.to_owned())];
    if let Some(admin) = crate::store::postgres_admin_url("the deployments' store up") {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let url = runtime.block_on(gravida_store::testing::fresh_postgres_url(&admin));
        stores.push(("store up", url));
    }

    let mut ready_pods = 0;
    for (label, docs) in &rendered {
        for (store, store_url) in &stores {
            let pods = pods(docs, label, &image, store_url);
            assert!(!pods.is_empty(), "{label} renders no Deployment");
            for pod in pods {
                let name = format!("{} ({store})", pod.name);
                assert_eq!(
                    pod.enable_service_links, false,
                    "{name}: enableServiceLinks must be false"
                );
                // The kubelet probes the container port; the process must listen on it.
                let listen = pod.settings.listen;
                for (kind, path, port) in &pod.probes {
                    assert_eq!(
                        *port,
                        listen.port(),
                        "{name}: {kind} {path} probes port {port}, gravida listens on {listen}"
                    );
                }
                assert!(
                    pod.probes
                        .iter()
                        .any(|(kind, _, _)| kind == "readinessProbe"),
                    "{name}: a readiness probe"
                );
                let refuses = pod.settings.auth.issuers.is_empty()
                    && !listen.ip().is_loopback()
                    && !pod.settings.insecure_no_auth;

                // The one change to the environment: a free port on the same address.
                let free_port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free port")
                    .port();
                let mut env = pod.env.clone();
                env.insert(
                    "GRAVIDA_LISTEN".to_owned(),
                    format!("{}:{free_port}", listen.ip()),
                );
                // The governance console, where a site declares it, stays inside the pod
                // (reached with kubectl port-forward): on loopback, on a port no container port
                // names. It too gets a free port on its own address.
                let admin_port = pod.settings.admin.listen.map(|admin| {
                    assert!(
                        admin.ip().is_loopback(),
                        "{name}: the console listens on {admin}, outside the pod's loopback"
                    );
                    assert!(
                        !pod.probes.iter().any(|(_, _, port)| *port == admin.port()),
                        "{name}: a probe names the console's port"
                    );
                    let free = std::net::TcpListener::bind("127.0.0.1:0")
                        .and_then(|l| l.local_addr())
                        .expect("a free port")
                        .port();
                    env.insert(
                        "GRAVIDA_ADMIN__LISTEN".to_owned(),
                        format!("{}:{free}", admin.ip()),
                    );
                    free
                });
                // A pod whose store is the Secret's, and down, is live but not ready: /readyz
                // answers 503 saying why, so that no traffic is sent to a replica that cannot
                // keep the audit trail.
                let store_is_secrets = pod.settings.store.enabled
                    && pod.settings.store.url().ok().as_deref() == Some(store_url.as_str());
                let expected_ready = if store_is_secrets && *store == "store down" {
                    503
                } else {
                    200
                };
                let before = pod.files.snapshot();
                let started_at = Instant::now();
                let mut process = Started::start(&pod, &env);
                let readiness = pod
                    .probes
                    .iter()
                    .find(|(kind, _, _)| kind == "readinessProbe")
                    .map(|(_, path, _)| path.clone())
                    .expect("checked above");
                let mut ready = None;
                while started_at.elapsed() < Duration::from_secs(30) && !process.has_exited() {
                    ready = http_status(free_port, &readiness);
                    if ready == Some(expected_ready) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let other_probes: Vec<(String, Option<u16>)> = pod
                    .probes
                    .iter()
                    .map(|(kind, path, _)| (format!("{kind} {path}"), http_status(free_port, path)))
                    .collect();
                // The console answers on its port (whatever the store's state makes of it).
                let admin_answer = admin_port.map(|port| http_status(port, "/admin"));
                let exited = process.has_exited();
                let (stdout, stderr) = process.stop();
                let took = started_at.elapsed();
                let shown = format!(
                    "\n--- argv: {:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}",
                    pod.argv
                );
                eprintln!("{name}: readiness {ready:?} after {took:?}");

                if refuses {
                    // The base alone has no trusted issuer: as its gravida.toml and the README
                    // say, it must refuse for that reason, and for no other (never for the
                    // platform's variables).
                    assert!(exited, "{name} should have refused to start{shown}");
                    assert!(
                        stderr.contains("without trusted issuers"),
                        "{name} refused for another reason{shown}"
                    );
                } else {
                    assert_eq!(ready, Some(expected_ready), "{name}: readiness{shown}");
                    if let Some(answer) = admin_answer {
                        assert!(
                            answer.is_some(),
                            "{name}: the console does not answer{shown}"
                        );
                    }
                    for (probe, status) in other_probes {
                        let expected = if probe.starts_with("readinessProbe") {
                            expected_ready
                        } else {
                            200
                        };
                        assert_eq!(status, Some(expected), "{name}: {probe}{shown}");
                    }
                    // Its store is the Secret's: down, it is reported and not waited for.
                    if store_is_secrets {
                        let expected = if *store == "store down" {
                            "the store cannot be reached"
                        } else {
                            "audit store ready"
                        };
                        assert!(stdout.contains(expected), "{name}: {expected:?}{shown}");
                    }
                    ready_pods += 1;
                }
                assert!(
                    !stdout.contains("names no setting") && !stderr.contains("unknown"),
                    "{name}: a platform variable was taken for a setting{shown}"
                );
                let writes = pod.files.read_only_writes(&before);
                assert!(
                    writes.is_empty(),
                    "{name} wrote where its pod's filesystem is read-only: {writes:?}{shown}"
                );
            }
        }
    }
    assert!(ready_pods >= 1, "no rendered Deployment became ready");
}

/// The PostgreSQL URL the example overlay documents for its Secret `gravida-store` (the one place
/// it is written down: the Secret itself is created out of band).
fn example_store_url() -> url::Url {
    let patch = std::fs::read_to_string(deploy_file("k8s/overlays/example/deployment-patch.yaml"))
        .expect("the example overlay's deployment patch");
    let found = regex::Regex::new(r#"postgres(ql)?://[^'"\s]+"#)
        .unwrap()
        .find(&patch)
        .expect("deployment-patch.yaml shows the store URL the Secret holds")
        .as_str()
        .to_owned();
    url::Url::parse(&found).expect("a URL")
}

/// Whether an egress rule lets traffic to TCP `port` in namespace `namespace` through.
fn egress_allows(rule: &Value, namespace: &str, port: u16) -> bool {
    let port_ok = match rule["ports"].as_array() {
        None => true,
        Some(ports) => ports.iter().any(|p| {
            p["port"].as_u64() == Some(u64::from(port))
                && p["protocol"].as_str().is_none_or(|proto| proto == "TCP")
        }),
    };
    let peer_ok = match rule["to"].as_array() {
        None => true,
        Some(peers) => peers.iter().any(|peer| {
            let namespaces = &peer["namespaceSelector"];
            // An empty selector is every namespace; a pod selector beside it narrows to pods we
            // cannot know, so only a namespace-wide peer counts.
            peer.get("podSelector").is_none()
                && namespaces.is_object()
                && (namespaces.as_object().is_some_and(|n| n.is_empty())
                    || namespaces["matchLabels"]["kubernetes.io/metadata.name"] == namespace)
        }),
    };
    port_ok && peer_ok
}

#[test]
fn the_example_overlays_network_policy_lets_its_pods_reach_the_postgresql_of_its_store_url() {
    let url = example_store_url();
    let host = url.host_str().expect("the URL names a host");
    let port = url.port().unwrap_or(5432);
    // A cluster Service name: `service.namespace.svc[.cluster.local]`.
    let namespace = host
        .split('.')
        .nth(1)
        .filter(|_| host.contains(".svc"))
        .expect("the example's store is a Service in the cluster");
    let Some(docs) = kustomize(&deploy_file("k8s/overlays/example")) else {
        return;
    };
    let policies: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "NetworkPolicy")
        .collect();
    assert!(!policies.is_empty(), "the overlay renders a NetworkPolicy");
    for policy in policies {
        let egress = policy["spec"]["egress"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            egress
                .iter()
                .any(|rule| egress_allows(rule, namespace, port)),
            "NetworkPolicy {} blocks the store at {host}:{port}: {egress:#?}",
            policy["metadata"]["name"]
        );
        // And it still narrows egress: no rule lets everything out.
        assert!(
            !egress
                .iter()
                .any(|rule| rule.get("to").is_none() && rule.get("ports").is_none()),
            "an egress rule without peers or ports opens everything"
        );
    }
}

/// What the kubelet gives a stopping pod must cover the drain its settings ask for: the preStop
/// sleep (the endpoints and the ingress take the pod out of rotation before its SIGTERM), the
/// grace (answering callers that still had its address), then a call in flight at its end (up
/// to the request timeout), then a few seconds to write the audit queue. The preStop hook is the
/// kubelet's own `sleep` action, never an exec: the image is distroless, without a shell or
/// `sleep`, so an exec hook would fail and the kubelet would send SIGTERM at once.
#[test]
fn every_rendered_deployment_sleeps_before_its_sigterm_and_gives_the_drain_its_time() {
    /// Seconds left for the audit queue after the last call is answered.
    const FLUSH_S: u64 = 5;
    let k8s = deploy_file("k8s");
    let mut dirs = vec![k8s.join("base")];
    for overlay in std::fs::read_dir(k8s.join("overlays")).expect("deploy/k8s/overlays") {
        dirs.push(overlay.expect("an overlay").path());
    }
    let image = image();
    let mut checked = 0;
    for dir in &dirs {
        let Some(docs) = kustomize(dir) else { return };
        let label = dir.file_name().unwrap().to_string_lossy().into_owned();
        for pod in pods(&docs, &label, &image, STORE_DOWN) {
            for hook in ["preStop", "postStart"] {
                assert!(
                    pod.lifecycle[hook].get("exec").is_none(),
                    "{}: an exec {hook} hook cannot run in a distroless image",
                    pod.name
                );
            }
            let pre_stop_s = pod.lifecycle["preStop"]["sleep"]["seconds"]
                .as_u64()
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no preStop sleep: a deleted pod gets SIGTERM while the endpoints \
                         still send it calls",
                        pod.name
                    )
                });
            assert!(
                pre_stop_s >= 5,
                "{}: a preStop sleep of {pre_stop_s} s is shorter than endpoints take to update",
                pod.name
            );
            let http = &pod.settings.http;
            let needed_ms =
                pre_stop_s * 1000 + http.drain_grace_ms + http.request_timeout_ms + FLUSH_S * 1000;
            assert!(
                pod.termination_grace_s * 1000 >= needed_ms,
                "{}: terminationGracePeriodSeconds {} s is shorter than the drain's {} ms \
                 (preStop {pre_stop_s} s + http.drain_grace_ms {} + http.request_timeout_ms {} \
                 + {FLUSH_S} s)",
                pod.name,
                pod.termination_grace_s,
                needed_ms,
                http.drain_grace_ms,
                http.request_timeout_ms,
            );
            assert!(
                http.drain_grace_ms >= 5_000,
                "{}: a drain grace of {} ms leaves late callers no time",
                pod.name,
                http.drain_grace_ms
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "the base and an overlay are checked");
}
