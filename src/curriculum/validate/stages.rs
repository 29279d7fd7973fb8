//! A lesson's stages: their guide types, and the files they bring (each stage's guide and
//! everything under its `configs/`).

use std::collections::BTreeMap;

use crate::curriculum::model::{GuideType, Stage};
use crate::curriculum::raw::RawStage;
use crate::curriculum::report::FileProblems;
use crate::curriculum::source::{self, EntryKind, Source};

use super::fields::enumerated;

pub(super) fn stages(
    raw: Option<Vec<RawStage>>,
    source: &impl Source,
    dir: &str,
    p: &mut FileProblems<'_>,
    files: &mut BTreeMap<String, String>,
) -> Vec<Stage> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        p.error_eg(
            "stages",
            "at least one stage is required",
            "stages: [{description: Intro, guideType: markdown}]",
        );
    }
    let mut stages = Vec::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let field = format!("stages[{i}].guideType");
        let Some(guide_type) = enumerated(
            p,
            &field,
            raw.guide_type.as_deref(),
            GuideType::parse,
            GuideType::ALL,
        ) else {
            continue;
        };
        let stage = Stage {
            description: raw.description.unwrap_or_default(),
            guide_type,
            stage_video: raw.stage_video.filter(|url| !url.is_empty()),
        };
        let guide = stage.guide_path(i);
        match source.read(&source::join(dir, &guide)) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    if guide_type == GuideType::Jupyter
                        && let Err(err) = serde_json::from_str::<serde_json::Value>(&text)
                    {
                        p.error(
                            &field,
                            format!("guide `{guide}` is not a JSON notebook: {err}"),
                        );
                    }
                    files.insert(guide, text);
                }
                Err(_) => p.error(&field, format!("guide `{guide}` is not UTF-8 text")),
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => p.error(
                &field,
                format!("guide file `{guide}` is missing (a {guide_type} stage {i} needs it)"),
            ),
            Err(err) => p.error(&field, format!("cannot read guide `{guide}`: {err}")),
        }
        read_configs(source, dir, i, p, files);
        stages.push(stage);
    }
    stages
}

/// Stores every file under `stage<i>/configs/` (helper files that scripts use included), so
/// the scheduler needs no curriculum directory.
fn read_configs(
    source: &impl Source,
    dir: &str,
    stage: usize,
    p: &mut FileProblems<'_>,
    files: &mut BTreeMap<String, String>,
) {
    let root = format!("stage{stage}/configs");
    let mut pending = vec![root];
    while let Some(relative) = pending.pop() {
        let Ok(entries) = source.list(&source::join(dir, &relative)) else {
            continue;
        };
        for entry in entries {
            let path = format!("{relative}/{}", entry.name);
            if entry.kind == EntryKind::Dir {
                pending.push(path);
            } else {
                match source
                    .read(&source::join(dir, &path))
                    .map(String::from_utf8)
                {
                    Ok(Ok(text)) => {
                        files.insert(path, text);
                    }
                    Ok(Err(_)) => p.error(
                        "stages",
                        format!("configuration file `{path}` is not UTF-8 text"),
                    ),
                    Err(err) => p.error("stages", format!("cannot read `{path}`: {err}")),
                }
            }
        }
    }
}
