//! Lesson files inside pods: a ConfigMap holding them, and an init container that copies
//! them into a writable emptyDir at `files_mount_path`.
//!
//! This replaces the original's hostPath mount of the whole curriculum on every pod, which
//! needed the curriculum on every node at the same path and exposed other lessons.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, KeyToPath,
    ResourceRequirements, Volume, VolumeMount,
};

use super::{object_meta, shell_quote};
use crate::backend::{Livelesson, Settings};
use crate::curriculum::Lesson;

/// Name of the ConfigMap and of its volume.
pub const LESSON_FILES: &str = "lesson-files";
/// Name of the writable emptyDir volume the lesson files are copied to.
pub const LOCAL_COPY: &str = "local-copy";
/// Name of the init container that copies the files.
pub const COPY_CONTAINER: &str = "copy-lesson-files";
/// Where the init container sees the ConfigMap.
pub const READ_ONLY_PATH: &str = "/antidote-ro";

/// Longest ConfigMap key Kubernetes accepts.
const MAX_KEY_LEN: usize = crate::curriculum::names::MAX_DATA_KEY_LEN;

/// The lesson's files (path relative to the lesson directory → text) as the ConfigMap
/// `lesson-files`; keys are [`lesson_file_items`]'s encoding of the paths.
pub fn lesson_files(settings: &Settings, ll: &Livelesson<'_>) -> ConfigMap {
    let data = file_keys(ll.lesson)
        .into_iter()
        .filter_map(|(key, path)| Some((key, ll.lesson.files.get(&path)?.clone())))
        .collect();
    ConfigMap {
        metadata: object_meta(settings, ll, LESSON_FILES, &[]),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// How the `lesson-files` volume projects each ConfigMap key back to its relative path
/// (`stage0/configs/r1-junos.txt`).
pub fn lesson_file_items(lesson: &Lesson) -> Vec<KeyToPath> {
    file_keys(lesson)
        .into_iter()
        .map(|(key, path)| KeyToPath {
            key,
            path,
            mode: None,
        })
        .collect()
}

/// ConfigMap key of each file, in path order. Keys can't hold `/`, so `/` becomes `__`
/// and any other character outside `[-._a-zA-Z0-9]` becomes `_`; the rare clash (or an
/// over-long key) gets a `-<index>` suffix (a higher number if that one is taken too), so
/// the mapping is deterministic and one-to-one.
fn file_keys(lesson: &Lesson) -> Vec<(String, String)> {
    let mut used = BTreeSet::new();
    lesson
        .files
        .keys()
        .enumerate()
        .map(|(index, path)| {
            let mut key: String = path
                .replace('/', "__")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if key.len() > MAX_KEY_LEN || key == "." || key == ".." || used.contains(&key) {
                // A suffixed key can meet an earlier one (`a b-2` took `a_b-2` before
                // `a_b`, at index 2, clashed with `a b`), so count on until it is free.
                let base = key;
                #[allow(
                    clippy::maybe_infinite_iter,
                    reason = "`used` is finite, so a free key comes"
                )]
                let free = (index..)
                    .map(|n| {
                        let suffix = format!("-{n}");
                        let mut key = base.clone();
                        key.truncate(MAX_KEY_LEN - suffix.len());
                        key.push_str(&suffix);
                        key
                    })
                    .find(|key| !used.contains(key))
                    .unwrap_or_default();
                key = free;
            }
            used.insert(key.clone());
            (key, path.clone())
        })
        .collect()
}

/// Volumes of endpoint and configuration pods: the ConfigMap and the writable copy.
pub fn pod_volumes(ll: &Livelesson<'_>) -> Vec<Volume> {
    vec![
        Volume {
            name: LESSON_FILES.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: LESSON_FILES.to_owned(),
                items: Some(lesson_file_items(ll.lesson)),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: LOCAL_COPY.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ]
}

/// The writable copy of the lesson files, mounted at `files_mount_path`, so
/// `/antidote/stageN/configs/...` works as in the original.
pub fn files_volume_mount(settings: &Settings) -> VolumeMount {
    VolumeMount {
        name: LOCAL_COPY.to_owned(),
        mount_path: settings.files_mount_path.clone(),
        ..VolumeMount::default()
    }
}

/// Init container copying the ConfigMap into the writable volume.
///
/// `cp -L` because a ConfigMap volume is a tree of symlinks into a hidden `..data`
/// directory; the glob skips those hidden entries. Everything is made writable by all
/// rather than chowned to a user created here (as the original did): the lab image's user
/// id is unknown to this container.
pub fn copy_files_init_container(
    settings: &Settings,
    resources: ResourceRequirements,
) -> Container {
    let target = shell_quote(&settings.files_mount_path);
    let script = format!(
        "set -eu; set -- {READ_ONLY_PATH}/*; \
         if [ -e \"$1\" ]; then cp -RL \"$@\" {target}/; fi; \
         chmod -R a+rwX {target}"
    );
    Container {
        name: COPY_CONTAINER.to_owned(),
        image: Some(settings.init_image.clone()),
        image_pull_policy: Some(pull_policy(settings).to_owned()),
        command: Some(vec!["sh".to_owned(), "-c".to_owned(), script]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: LESSON_FILES.to_owned(),
                mount_path: READ_ONLY_PATH.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            files_volume_mount(settings),
        ]),
        resources: Some(resources),
        ..Container::default()
    }
}

/// `Always` when `always_pull`, else `IfNotPresent` (the original's switch).
pub(crate) fn pull_policy(settings: &Settings) -> &'static str {
    if settings.always_pull {
        "Always"
    } else {
        "IfNotPresent"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::fixture::Fixture;
    use super::*;

    #[test]
    fn config_map_holds_every_file_under_a_valid_key() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let cm = lesson_files(&fx.settings, &ll);
        assert_eq!(cm.metadata.name.as_deref(), Some("lesson-files"));
        assert_eq!(
            cm.metadata.namespace.as_deref(),
            Some("antidote-abcde12345")
        );
        let data = cm.data.unwrap();
        assert_eq!(data.len(), ll.lesson.files.len());
        assert_eq!(
            data["stage1__configs__vqfx-1-junos.txt"],
            ll.lesson.files["stage1/configs/vqfx-1-junos.txt"]
        );
        assert!(data.keys().all(|k| !k.contains('/')));
    }

    #[test]
    fn items_project_keys_back_to_relative_paths() {
        let fx = Fixture::example();
        let ll = fx.livelesson("router-configuration");
        let items = lesson_file_items(ll.lesson);
        let item = items
            .iter()
            .find(|i| i.path == "stage0/configs/vqfx-2-junos.txt")
            .unwrap();
        assert_eq!(item.key, "stage0__configs__vqfx-2-junos.txt");
        let paths: Vec<_> = items.iter().map(|i| i.path.as_str()).collect();
        let expected: Vec<_> = ll.lesson.files.keys().map(String::as_str).collect();
        assert_eq!(paths, expected);
    }

    #[test]
    fn clashing_keys_get_distinct_suffixes() {
        let fx = Fixture::example();
        let mut lesson = fx.curriculum.lesson("linux-first-steps").unwrap().clone();
        lesson.files = BTreeMap::from([
            ("a/b".to_owned(), "1".to_owned()),
            ("a__b".to_owned(), "2".to_owned()),
            ("a b".to_owned(), "3".to_owned()),
            ("a_b".to_owned(), "4".to_owned()),
        ]);
        let keys = file_keys(&lesson);
        let unique: BTreeSet<_> = keys.iter().map(|(k, _)| k).collect();
        assert_eq!(unique.len(), 4);
        assert_eq!(keys, file_keys(&lesson), "deterministic");
        let long = "d/".repeat(200) + "f";
        lesson.files = BTreeMap::from([(long, "x".to_owned())]);
        assert!(file_keys(&lesson)[0].0.len() <= MAX_KEY_LEN);
    }

    #[test]
    fn a_suffixed_key_never_takes_a_key_already_given() {
        let fx = Fixture::example();
        let mut lesson = fx.curriculum.lesson("linux-first-steps").unwrap().clone();
        // Found by the property tests: `a_b` at index 2 clashed with `a b` and its
        // suffixed key `a_b-2` was the one `a b-2` had taken.
        lesson.files = BTreeMap::from([
            ("stage0/configs/a b".to_owned(), "1".to_owned()),
            ("stage0/configs/a b-2".to_owned(), "2".to_owned()),
            ("stage0/configs/a_b".to_owned(), "3".to_owned()),
        ]);
        let keys: Vec<String> = file_keys(&lesson).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "stage0__configs__a_b",
                "stage0__configs__a_b-2",
                "stage0__configs__a_b-3"
            ]
        );
    }

    #[test]
    fn volumes_and_init_container_wire_the_copy() {
        let fx = Fixture::example();
        let ll = fx.livelesson("web-automation");
        let volumes = pod_volumes(&ll);
        assert_eq!(volumes[0].name, "lesson-files");
        let cm = volumes[0].config_map.as_ref().unwrap();
        assert_eq!(cm.name, "lesson-files");
        assert_eq!(cm.items.as_ref().unwrap().len(), ll.lesson.files.len());
        assert_eq!(volumes[1].name, "local-copy");
        assert!(volumes[1].empty_dir.is_some());

        let init = copy_files_init_container(&fx.settings, ResourceRequirements::default());
        assert_eq!(init.name, "copy-lesson-files");
        assert_eq!(init.image.as_deref(), Some("busybox:1.36"));
        let script = &init.command.as_ref().unwrap()[2];
        assert!(script.contains("cp -RL \"$@\" '/antidote'/"), "{script}");
        assert!(script.contains("chmod -R a+rwX '/antidote'"), "{script}");
        let mounts = init.volume_mounts.unwrap();
        assert_eq!(
            (mounts[0].name.as_str(), mounts[0].mount_path.as_str()),
            ("lesson-files", "/antidote-ro")
        );
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(
            (mounts[1].name.as_str(), mounts[1].mount_path.as_str()),
            ("local-copy", "/antidote")
        );
    }
}
