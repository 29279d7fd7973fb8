//! The whole prerequisite tree of a lesson, flattened: what a learner should take first.

use std::collections::{BTreeMap, HashSet};

/// Every lesson `slug` needs first, directly or through other lessons, each once, in the
/// original's order: depth first, a lesson before its own prerequisites, in the order the
/// lessons list them. Slugs missing from `prereqs` (lessons not imported) are left out,
/// and a cycle ends where it comes back to a lesson already listed.
pub fn flatten(slug: &str, prereqs: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::from([slug]);
    let mut order = Vec::new();
    // An explicit stack rather than recursion: a long chain cannot overflow it.
    let mut stack: Vec<&str> = direct(slug, prereqs).rev().collect();
    while let Some(next) = stack.pop() {
        if !prereqs.contains_key(next) || !seen.insert(next) {
            continue;
        }
        order.push(next.to_owned());
        stack.extend(direct(next, prereqs).rev());
    }
    order
}

fn direct<'a>(
    slug: &str,
    prereqs: &'a BTreeMap<String, Vec<String>>,
) -> impl DoubleEndedIterator<Item = &'a str> {
    prereqs.get(slug).into_iter().flatten().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(slug, pre)| {
                (
                    (*slug).to_owned(),
                    pre.iter().map(|p| (*p).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn the_tree_is_flattened_depth_first_without_repeats() {
        let lessons = tree(&[
            ("a", &["b", "c"]),
            ("b", &["d"]),
            ("c", &["d", "e"]),
            ("d", &[]),
            ("e", &[]),
        ]);
        assert_eq!(flatten("a", &lessons), ["b", "d", "c", "e"]);
        assert_eq!(flatten("d", &lessons), Vec::<String>::new());
        assert_eq!(flatten("unknown", &lessons), Vec::<String>::new());
    }

    #[test]
    fn cycles_and_missing_lessons_end_the_walk() {
        let lessons = tree(&[("a", &["b", "gone"]), ("b", &["a", "c"]), ("c", &["b"])]);
        assert_eq!(flatten("a", &lessons), ["b", "c"]);
    }
}
