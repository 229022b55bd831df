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
