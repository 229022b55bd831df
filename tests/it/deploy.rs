//! The settings shipped in `deploy/` are real settings: they parse, and the base alone (no
//! issuers, all interfaces) refuses to start, as the image documentation says.

use gravida_server::settings::Settings;
use gravida_server::startup::Application;

use crate::helpers::fixture_path;

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

/// A pod as Kubernetes would start it from one rendered Deployment: its container's arguments and
/// `env`, its volumes laid out under a temp folder, and the service-link variables of every
/// rendered Service.
struct Pod {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    root: std::path::PathBuf,
    enable_service_links: bool,
    has_issuers: bool,
}

/// `kubectl kustomize DIR` as YAML documents, or `None` when kubectl is missing (a skip, except
/// under CI, where it is a failure: `.ci/run` lints with the same kubectl).
fn kustomize(dir: &std::path::Path) -> Option<Vec<serde_json::Value>> {
    let out = match std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: kubectl is not installed ({e})");
            return None;
        }
        Err(e) => panic!("kubectl is needed under CI: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    Some(docs)
}

/// The variables Kubernetes writes for each Service of the namespace when service links are on
/// (the kubelet's `envvars.FromServices`), for a pretend cluster IP.
fn service_links(docs: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut env = vec![
        ("KUBERNETES_SERVICE_HOST".to_owned(), "10.96.0.1".to_owned()),
        ("KUBERNETES_SERVICE_PORT".to_owned(), "443".to_owned()),
    ];
    for service in docs.iter().filter(|d| d["kind"] == "Service") {
        let name = service["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_ascii_uppercase()
            .replace('-', "_");
        let ip = "10.96.12.34";
        let ports = service["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, port) in ports.iter().enumerate() {
            let number = port["port"].as_u64().unwrap();
            let proto = port["protocol"].as_str().unwrap_or("TCP");
            if i == 0 {
                env.push((format!("{name}_SERVICE_HOST"), ip.to_owned()));
                env.push((format!("{name}_SERVICE_PORT"), number.to_string()));
                env.push((
                    format!("{name}_PORT"),
                    format!("{}://{ip}:{number}", proto.to_ascii_lowercase()),
                ));
            }
            if let Some(port_name) = port["name"].as_str() {
                let upper = port_name.to_ascii_uppercase().replace('-', "_");
                env.push((format!("{name}_SERVICE_PORT_{upper}"), number.to_string()));
            }
            let prefix = format!("{name}_PORT_{number}_{proto}");
            env.push((
                prefix.clone(),
                format!("{}://{ip}:{number}", proto.to_ascii_lowercase()),
            ));
            env.push((format!("{prefix}_PROTO"), proto.to_ascii_lowercase()));
            env.push((format!("{prefix}_PORT"), number.to_string()));
            env.push((format!("{prefix}_ADDR"), ip.to_owned()));
        }
    }
    env
}

/// Lays out every rendered Deployment's pod under a temp folder. Mounted paths (`/etc/gravida`,
/// the store Secret, `/tmp`) are moved under the folder, in the arguments and in the mounted
/// files alike; the listen port is replaced by a free one. Nothing else is changed.
fn pods(docs: &[serde_json::Value], label: &str) -> Vec<Pod> {
    let links = service_links(docs);
    let mut pods = Vec::new();
    for deployment in docs.iter().filter(|d| d["kind"] == "Deployment") {
        let spec = &deployment["spec"]["template"]["spec"];
        let container = &spec["containers"][0];
        let root = std::env::temp_dir().join(format!(
            "gravida-it-pod-{}-{label}-{}",
            std::process::id(),
            deployment["metadata"]["name"].as_str().unwrap()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let mounts: Vec<(String, String)> = container["volumeMounts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["mountPath"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let moved = |path: &str| {
            let mut out = path.to_owned();
            for (_, mount) in &mounts {
                if let Some(rest) = path.strip_prefix(mount.as_str()) {
                    out = format!("{}{mount}{rest}", root.display());
                }
            }
            out
        };
        let mut has_issuers = false;
        for (volume_name, mount) in &mounts {
            let dir = std::path::PathBuf::from(moved(mount));
            std::fs::create_dir_all(&dir).unwrap();
            let volume = spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == volume_name.as_str())
                .unwrap();
            let config_maps: Vec<&str> = volume["projected"]["sources"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(|s| s["configMap"]["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for name in config_maps {
                let map = docs
                    .iter()
                    .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)
                    .unwrap_or_else(|| panic!("{label}: no rendered ConfigMap {name}"));
                for (file, content) in map["data"].as_object().unwrap() {
                    let content = content.as_str().unwrap();
                    has_issuers |= content.contains("[[auth.issuers]]");
                    let mut moved_content = content.to_owned();
                    for (_, m) in &mounts {
                        moved_content = moved_content
                            .replace(&format!("\"{m}/"), &format!("\"{}{m}/", root.display()));
                    }
                    std::fs::write(dir.join(file), moved_content).unwrap();
                }
            }
            // A Secret is created out of band (never committed): stand one in with its keys.
            if volume["secret"]["secretName"] == "gravida-store" {
                let url = std::env::var("GRAVIDA_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://gravida:pw@127.0.0.1:9/gravida".to_owned());
                std::fs::write(dir.join("url"), url).unwrap();
                std::fs::write(dir.join("patient-key"), [7u8; 32]).unwrap();
            }
        }
        let free_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut env = Vec::new();
        for var in container["env"].as_array().cloned().unwrap_or_default() {
            let name = var["name"].as_str().unwrap().to_owned();
            let value = var["value"]
                .as_str()
                .unwrap_or_else(|| panic!("{label}: env {name} needs a literal value here"));
            let value = if name == "GRAVIDA_LISTEN" {
                let (host, _) = value.rsplit_once(':').unwrap();
                format!("{host}:{free_port}")
            } else {
                value.to_owned()
            };
            env.push((name, value));
        }
        // Service links are written whatever the pod asks, so the settings are shown to survive
        // them even if `enableServiceLinks` were turned back on.
        env.extend(links.iter().cloned());
        pods.push(Pod {
            name: format!(
                "{label}/{}",
                deployment["metadata"]["name"].as_str().unwrap()
            ),
            args: container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| moved(a.as_str().unwrap()))
                .collect(),
            env,
            root,
            enable_service_links: spec["enableServiceLinks"] != false,
            has_issuers,
        });
    }
    pods
}

/// Starts the pod's process and waits for `/readyz`, or for it to exit; returns the HTTP status
/// (if it became ready) and its stderr.
fn start_pod(pod: &Pod) -> (Option<u16>, String) {
    let port = pod
        .env
        .iter()
        .find(|(k, _)| k == "GRAVIDA_LISTEN")
        .map(|(_, v)| v.rsplit_once(':').unwrap().1.to_owned())
        .expect("the Deployment sets GRAVIDA_LISTEN");
    let mut child = crate::binary::gravida()
        .args(&pod.args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(pod.env.iter().cloned())
        .current_dir(&pod.root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut ready = None;
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port.parse().unwrap())) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: gravida\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            ready = answer
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    (ready, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
#[ignore = "work in progress: the example overlay's pod does not yet become ready here"]
fn every_rendered_deployment_starts_with_the_environment_its_pod_would_get() {
    let k8s = deploy_file("k8s");
    let mut kustomizations = vec![("base".to_owned(), k8s.join("base"))];
    for overlay in std::fs::read_dir(k8s.join("overlays")).unwrap() {
        let overlay = overlay.unwrap();
        kustomizations.push((
            overlay.file_name().to_string_lossy().into_owned(),
            overlay.path(),
        ));
    }
    let mut started = 0;
    for (label, dir) in &kustomizations {
        let Some(docs) = kustomize(dir) else { return };
        let pods = pods(&docs, label);
        assert!(!pods.is_empty(), "{label} renders no Deployment");
        for pod in pods {
            assert!(
                !pod.enable_service_links,
                "{}: enableServiceLinks must be false",
                pod.name
            );
            let (ready, stderr) = start_pod(&pod);
            if pod.has_issuers {
                assert_eq!(
                    ready,
                    Some(200),
                    "{} did not become ready:\n{stderr}",
                    pod.name
                );
                started += 1;
            } else {
                // The base alone has no trusted issuer: it must refuse for that reason, and for
                // no other (never for the platform's variables).
                assert_eq!(ready, None, "{}", pod.name);
                assert!(
                    stderr.contains("without trusted issuers"),
                    "{}:\n{stderr}",
                    pod.name
                );
            }
            assert!(!stderr.contains("unknown"), "{}:\n{stderr}", pod.name);
            let _ = std::fs::remove_dir_all(&pod.root);
        }
    }
    assert!(started >= 1, "no overlay started");
}
