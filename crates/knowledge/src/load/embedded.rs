//! The default profile, compiled into the binary. The list is explicit: a test checks that it
//! names exactly the files under `profiles/default`, and a missing file fails the build.

macro_rules! profile_files {
    ($($path:literal),* $(,)?) => {
        /// `(path relative to the profile, contents)` for every file of `profiles/default`.
        pub const FILES: &[(&str, &str)] = &[
            $(($path, include_str!(concat!("../../../../profiles/default/", $path)))),*
        ];
    };
}

profile_files!(
    "README.md",
    "cards.toml",
    "orderables.toml",
    "prefetch.toml",
    "profile.toml",
    "text.toml",
    "thresholds.toml",
    "valuesets/abortifacient.json",
    "valuesets/absent-answer.json",
    "valuesets/already-diagnosed.json",
    "valuesets/art-conception.json",
    "valuesets/bleeding.json",
    "valuesets/bleeding-other-site.json",
    "valuesets/bp-panel.json",
    "valuesets/conception-date.json",
    "valuesets/crown-rump-length.json",
    "valuesets/dating-art.json",
    "valuesets/dating-edd.json",
    "valuesets/dating-lmp.json",
    "valuesets/dating-other.json",
    "valuesets/dating-ultrasound.json",
    "valuesets/delivery-date.json",
    "valuesets/ectopic-pregnancy.json",
    "valuesets/embryo-transfer.json",
    "valuesets/fetal-heart-activity.json",
    "valuesets/hcg-qualitative.json",
    "valuesets/hcg-quantitative.json",
    "valuesets/heart-rate.json",
    "valuesets/iud.json",
    "valuesets/iup.json",
    "valuesets/lmp-date.json",
    "valuesets/methotrexate.json",
    "valuesets/miscarriage-count.json",
    "valuesets/molar-pregnancy.json",
    "valuesets/not-pregnant-answer.json",
    "valuesets/personal-history.json",
    "valuesets/placenta-previa.json",
    "valuesets/placental-location.json",
    "valuesets/pregnancy-ended.json",
    "valuesets/pregnancy-evidence.json",
    "valuesets/pregnancy-status.json",
    "valuesets/pregnant-answer.json",
    "valuesets/present-answer.json",
    "valuesets/previous-miscarriage.json",
    "valuesets/procedure-anti-d.json",
    "valuesets/procedure-hcg.json",
    "valuesets/procedure-pregnancy-ended.json",
    "valuesets/procedure-rh-typing.json",
    "valuesets/procedure-ultrasound.json",
    "valuesets/recurrent-pregnancy-loss.json",
    "valuesets/rh-antibody-identified.json",
    "valuesets/rh-antibody-screen.json",
    "valuesets/rh-negative.json",
    "valuesets/rh-positive.json",
    "valuesets/rh-sensitised.json",
    "valuesets/rh-type.json",
    "valuesets/subchorionic-hematoma.json",
    "valuesets/systolic-bp.json",
    "valuesets/ultrasound-performed.json",
    "valuesets/vasa-previa.json",
);
