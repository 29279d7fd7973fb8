//! The example curriculum: it validates cleanly, exposes each stage's configuration files,
//! and never prints an image's passwords.

use antidote_scheduler::curriculum::{
    ConfigurationFile, ConfigurationType, NapalmDriver, PresentationType,
};

use crate::support::{Fixture, errors, warnings};

#[test]
fn example_curriculum_validates_cleanly() {
    let loaded = Fixture::example().load();
    assert_eq!(errors(&loaded), vec![]);
    assert_eq!(warnings(&loaded), vec![]);
    let report = &loaded.report;
    assert_eq!(
        (report.lessons, report.images, report.collections),
        (4, 4, 1)
    );
    assert!(report.skipped.is_empty());
    let curriculum = loaded.valid().expect("valid");
    assert_eq!(curriculum.meta.name, "antidote-scheduler-example");
    assert_eq!(curriculum.lessons.len(), 4);
    assert_eq!(curriculum.images.len(), 4);
    assert_eq!(curriculum.collections.len(), 1);
}

#[test]
fn example_curriculum_exposes_per_stage_configuration_files() {
    let loaded = Fixture::example().load();
    let curriculum = loaded.valid().expect("valid");

    // A hyphenated endpoint name does not confuse the napalm driver.
    let lesson = curriculum.lesson("router-configuration").expect("lesson");
    let vqfx = lesson.endpoint("vqfx-1").expect("endpoint");
    assert_eq!(vqfx.configuration_type, Some(ConfigurationType::Napalm));
    let expected = ConfigurationFile {
        file_name: "vqfx-1-junos.txt".into(),
        napalm_driver: Some(NapalmDriver::Junos),
    };
    assert_eq!(vqfx.configuration_files, vec![expected.clone(), expected]);
    assert_eq!(vqfx.ports(), vec![22, 830]);
    let stage1 = lesson.configuration_text(vqfx, 1).expect("stage 1 config");
    assert!(stage1.contains("route 192.0.2.0/24"));
    assert_eq!(lesson.ready_delay, 1);
    assert_eq!(lesson.connections[1].subnet, None);
    assert_eq!(
        lesson.connections[0]
            .subnet
            .map(|s| s.to_string())
            .as_deref(),
        Some("10.12.0.0/24")
    );

    let lesson = curriculum.lesson("web-automation").expect("lesson");
    let linux1 = lesson.endpoint("linux1").expect("endpoint");
    assert_eq!(linux1.configuration_files[0].file_name, "linux1.py");
    assert_eq!(linux1.configuration_files[0].napalm_driver, None);
    let router = lesson.endpoint("router").expect("endpoint");
    assert_eq!(router.configuration_type, Some(ConfigurationType::Ansible));
    assert_eq!(router.configuration_files[1].file_name, "router.yml");
    let web = lesson.endpoint("web").expect("endpoint");
    assert_eq!(web.presentations[0].kind, PresentationType::Http);
    let backend = lesson.endpoint("backend").expect("endpoint");
    assert!(backend.presentations.is_empty());
    assert_eq!(backend.ports(), vec![5000]);
    assert!(lesson.guide(1).expect("guide").contains("backend"));

    let lesson = curriculum.lesson("notebook-automation").expect("lesson");
    assert!(lesson.uses_jupyter());
    assert!(lesson.guide(0).expect("notebook").contains("nbformat"));
    assert!(lesson.files.contains_key("stage1/configs/vqfx1-junos.txt"));
}

#[test]
fn image_passwords_never_print() {
    let loaded = Fixture::example().load();
    let curriculum = loaded.valid().expect("valid");
    let image = curriculum.image("vqfx").expect("image");
    let debug = format!("{image:?}");
    assert!(!debug.contains("rootpassword"), "{debug}");
    assert_eq!(image.config_password.expose(), "rootpassword");
}
