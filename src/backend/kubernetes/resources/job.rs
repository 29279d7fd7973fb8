//! Configuration jobs: one batch Job per configurable endpoint and stage, and the secret
//! holding the passwords they use.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec, Secret, SecretKeySelector,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::files::{copy_files_init_container, files_volume_mount, pod_volumes, pull_policy};
use super::{
    Error, JOB_TYPE_CONFIG, LABEL_CONFIG_POD, LABEL_JOB_TYPE, LABEL_STAGE, Result, YES,
    object_meta, shell_quote,
};
use crate::backend::{Livelesson, Settings};
use crate::curriculum::names;
use crate::curriculum::{ConfigurationType, Endpoint};

/// Name of the per-livelesson secret with the configuration passwords.
pub const CONFIG_CREDENTIALS: &str = "config-credentials";
/// Name of the configuration container.
pub const CONFIGURATOR: &str = "configurator";
/// Port configuration tools connect to (the original hard-coded it too).
pub const TARGET_PORT: u16 = 22;

/// Key of an image's configuration password in [`config_credentials_secret`]
/// ([`names::credentials_key`], whose length the curriculum validation bounds).
pub fn credentials_key(image_slug: &str) -> String {
    names::credentials_key(image_slug)
}

/// The secret `config-credentials`: the configuration password of every image a
/// configurable endpoint uses, under [`credentials_key`]. Create it before any
/// [`config_job`]: their pods read the password from it, so it never appears in a pod spec.
pub fn config_credentials_secret(settings: &Settings, ll: &Livelesson<'_>) -> Secret {
    let data: BTreeMap<String, ByteString> = ll
        .lesson
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.configuration_type.is_some())
        .filter_map(|endpoint| ll.images.get(&endpoint.image))
        .map(|image| {
            (
                credentials_key(&image.slug),
                ByteString(image.config_password.expose().as_bytes().to_vec()),
            )
        })
        .collect();
    Secret {
        metadata: object_meta(settings, ll, CONFIG_CREDENTIALS, &[]),
        data: Some(data),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    }
}

/// The Job configuring `endpoint` for `stage`, reaching it at `host` (its service).
///
/// The target and credentials come in env as in the original (`ANTIDOTE_TARGET_HOST`,
/// `_PORT`, `_USERNAME`, `_PASSWORD`), the password through [`CONFIG_CREDENTIALS`]; napalm
/// reads them by shell expansion so no password sits in the command line.
///
/// # Errors
///
/// [`Error::NotConfigurable`] without a configuration type, [`Error::NoConfigurationFile`]
/// when the stage has no file (or a napalm file has no driver), [`Error::UnknownImage`].
pub fn config_job(
    settings: &Settings,
    ll: &Livelesson<'_>,
    endpoint: &Endpoint,
    stage: usize,
    host: &str,
) -> Result<Job> {
    let kind = endpoint
        .configuration_type
        .ok_or_else(|| Error::NotConfigurable {
            endpoint: endpoint.name.clone(),
        })?;
    let no_file = || Error::NoConfigurationFile {
        endpoint: endpoint.name.clone(),
        stage,
    };
    // Each stage's own file: the original took the last stage's name for every stage.
    let file = endpoint
        .configuration_files
        .get(stage)
        .ok_or_else(no_file)?;
    let image = ll
        .images
        .get(&endpoint.image)
        .ok_or_else(|| Error::UnknownImage {
            endpoint: endpoint.name.clone(),
            image: endpoint.image.clone(),
        })?;
    let path = format!(
        "{}/{}",
        settings.files_mount_path.trim_end_matches('/'),
        file.path(stage)
    );
    let command = match kind {
        ConfigurationType::Python => vec!["python".to_owned(), path],
        ConfigurationType::Ansible => vec![
            "ansible-playbook".to_owned(),
            "-vvvv".to_owned(),
            "-i".to_owned(),
            format!("{host},"),
            path,
        ],
        ConfigurationType::Napalm => {
            let driver = file.napalm_driver.ok_or_else(no_file)?;
            let script = format!(
                "exec /configure.py \"$ANTIDOTE_TARGET_USERNAME\" \"$ANTIDOTE_TARGET_PASSWORD\" \
                 {driver} \"$ANTIDOTE_TARGET_PORT\" \"$ANTIDOTE_TARGET_HOST\" {}",
                shell_quote(&path)
            );
            vec!["sh".to_owned(), "-c".to_owned(), script]
        }
    };
    let value = |name: &str, value: &str| EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    };
    let env = vec![
        value("ANTIDOTE_TARGET_HOST", host),
        value("ANTIDOTE_TARGET_PORT", &TARGET_PORT.to_string()),
        value("ANTIDOTE_TARGET_USERNAME", &image.config_user),
        EnvVar {
            name: "ANTIDOTE_TARGET_PASSWORD".to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: CONFIG_CREDENTIALS.to_owned(),
                    key: credentials_key(&image.slug),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
        },
        value("ANSIBLE_HOST_KEY_CHECKING", "False"),
    ];

    let resources = super::budget::pod_resources(&super::budget::plan(settings, ll)?);
    let name = names::config_job_name(&endpoint.name, stage);
    let stage_id = stage.to_string();
    let job_labels = [
        (LABEL_JOB_TYPE, JOB_TYPE_CONFIG),
        (LABEL_STAGE, stage_id.as_str()),
    ];
    let mut pod_labels = job_labels.to_vec();
    // Exempts the pod from the egress lockdown, as in the original.
    pod_labels.push((LABEL_CONFIG_POD, YES));
    let template_meta = object_meta(settings, ll, name.clone(), &pod_labels);
    Ok(Job {
        metadata: object_meta(settings, ll, name, &job_labels),
        spec: Some(JobSpec {
            backoff_limit: Some(settings.job_backoff_limit),
            // The cluster stops a hung configuration too, not only our wait.
            active_deadline_seconds: i64::try_from(settings.config_timeout.as_secs())
                .ok()
                .filter(|secs| *secs > 0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: template_meta.labels,
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: CONFIGURATOR.to_owned(),
                        image: Some(format!(
                            "{}:{}",
                            settings.configurator_image, settings.platform_image_tag
                        )),
                        image_pull_policy: Some(pull_policy(settings).to_owned()),
                        command: Some(command),
                        env: Some(env),
                        volume_mounts: Some(vec![files_volume_mount(settings)]),
                        resources: Some(resources.clone()),
                        ..Container::default()
                    }],
                    init_containers: Some(vec![copy_files_init_container(settings, resources)]),
                    volumes: Some(pod_volumes(ll)),
                    restart_policy: Some("Never".to_owned()),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    fn container(job: &Job) -> &Container {
        &job.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
    }

    fn env(job: &Job) -> BTreeMap<String, EnvVar> {
        container(job)
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect()
    }

    fn env_value(job: &Job, name: &str) -> Option<String> {
        env(job)[name].value.clone()
    }

    #[test]
    fn python_job_runs_the_stage_script_with_target_env() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let ep = ll.lesson.endpoint("linux1").unwrap();
        let job = config_job(&fx.settings, &ll, ep, 1, "linux1").unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some("config-linux1-1"));
        assert_eq!(
            job.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        let labels = job.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["jobType"], "config");
        assert_eq!(labels["stageId"], "1");
        assert_eq!(labels["liveLesson"], "abcde12345");
        assert!(!labels.contains_key("configPod"));
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(3));
        assert_eq!(spec.active_deadline_seconds, Some(600));
        let template_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(template_labels["configPod"], "yes");
        assert_eq!(template_labels["stageId"], "1");
        assert_eq!(template_labels["antidoteManaged"], "yes");
        assert!(
            !template_labels.contains_key("podName"),
            "services must not select it"
        );
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.image_pull_secrets, None);
        assert_eq!(
            pod.init_containers.as_ref().unwrap()[0].name,
            "copy-lesson-files"
        );
        assert_eq!(pod.volumes.as_ref().unwrap().len(), 2);

        let c = container(&job);
        assert_eq!(c.name, "configurator");
        assert_eq!(c.image.as_deref(), Some("antidotelabs/configurator:latest"));
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            c.command.as_deref(),
            Some(
                &[
                    "python".to_owned(),
                    "/antidote/stage1/configs/linux1.py".to_owned()
                ][..]
            )
        );
        assert_eq!(c.volume_mounts.as_ref().unwrap()[0].mount_path, "/antidote");
        assert_eq!(
            env_value(&job, "ANTIDOTE_TARGET_HOST").as_deref(),
            Some("linux1")
        );
        assert_eq!(
            env_value(&job, "ANTIDOTE_TARGET_PORT").as_deref(),
            Some("22")
        );
        assert_eq!(
            env_value(&job, "ANTIDOTE_TARGET_USERNAME").as_deref(),
            Some("antidote")
        );
        assert_eq!(
            env_value(&job, "ANSIBLE_HOST_KEY_CHECKING").as_deref(),
            Some("False")
        );
        let password = &env(&job)["ANTIDOTE_TARGET_PASSWORD"];
        assert_eq!(password.value, None);
        let key_ref = password
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(key_ref.name, "config-credentials");
        assert_eq!(key_ref.key, "utility.password");
    }

    #[test]
    fn ansible_job_targets_the_host_inventory() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let ep = ll.lesson.endpoint("router").unwrap();
        let settings = Settings {
            always_pull: true,
            pull_cred_name: Some("regcred".into()),
            ..fx.settings.clone()
        };
        let job = config_job(&settings, &ll, ep, 0, "10.96.0.12").unwrap();
        let c = container(&job);
        assert_eq!(
            c.command.clone().unwrap(),
            [
                "ansible-playbook",
                "-vvvv",
                "-i",
                "10.96.0.12,",
                "/antidote/stage0/configs/router.yml"
            ]
        );
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(
            pod.image_pull_secrets, None,
            "the configurator image is public"
        );
    }

    #[test]
    fn napalm_job_reads_credentials_from_env_and_the_stage_driver() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let ep = ll.lesson.endpoint("vqfx-1").unwrap();
        let job = config_job(&fx.settings, &ll, ep, 1, "vqfx-1").unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some("config-vqfx-1-1"));
        let command = container(&job).command.clone().unwrap();
        assert_eq!(command[..2], ["sh", "-c"]);
        assert_eq!(
            command[2],
            "exec /configure.py \"$ANTIDOTE_TARGET_USERNAME\" \"$ANTIDOTE_TARGET_PASSWORD\" \
             junos \"$ANTIDOTE_TARGET_PORT\" \"$ANTIDOTE_TARGET_HOST\" \
             '/antidote/stage1/configs/vqfx-1-junos.txt'"
        );
        assert_eq!(
            env_value(&job, "ANTIDOTE_TARGET_USERNAME").as_deref(),
            Some("root")
        );
        let serialized = serde_json::to_string(&job).unwrap();
        assert!(
            !serialized.contains("rootpassword"),
            "no password in the job"
        );
        let key_ref = env(&job)["ANTIDOTE_TARGET_PASSWORD"]
            .value_from
            .clone()
            .unwrap()
            .secret_key_ref
            .unwrap();
        assert_eq!(key_ref.key, "vqfx.password");
    }

    #[test]
    fn credentials_secret_holds_passwords_of_configurable_endpoints() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let secret = config_credentials_secret(&fx.settings, &ll);
        assert_eq!(secret.metadata.name.as_deref(), Some("config-credentials"));
        assert_eq!(
            secret.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let data = secret.data.unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["vqfx.password"]);
        assert_eq!(data["vqfx.password"].0, b"rootpassword");

        let ll = fx.livelesson("web-automation");
        let data = config_credentials_secret(&fx.settings, &ll).data.unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["linux-router.password", "utility.password"],
            "webserver endpoints are not configured"
        );
    }

    #[test]
    fn unconfigurable_endpoints_and_missing_stages_are_errors() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let web = ll.lesson.endpoint("web").unwrap();
        assert_eq!(
            config_job(&fx.settings, &ll, web, 0, "web"),
            Err(Error::NotConfigurable {
                endpoint: "web".into()
            })
        );
        let linux1 = ll.lesson.endpoint("linux1").unwrap();
        assert_eq!(
            config_job(&fx.settings, &ll, linux1, 7, "linux1"),
            Err(Error::NoConfigurationFile {
                endpoint: "linux1".into(),
                stage: 7
            })
        );
    }
}
