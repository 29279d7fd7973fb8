//! `curriculum.meta.yaml`: the curriculum's own description.

use crate::curriculum::model::CurriculumMeta;
use crate::curriculum::raw::RawMeta;
use crate::curriculum::report::FileProblems;

use super::fields::required;

pub(crate) fn meta(raw: RawMeta, p: &mut FileProblems<'_>) -> Option<CurriculumMeta> {
    let meta = CurriculumMeta {
        name: required(p, "name", raw.name),
        description: required(p, "description", raw.description),
        website: required(p, "website", raw.website),
        a_ver: required(p, "aVer", raw.a_ver),
        git_root: required(p, "gitRoot", raw.git_root),
    };
    (p.errors() == 0).then_some(meta)
}
