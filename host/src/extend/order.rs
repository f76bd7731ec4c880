//! The order contributions run in: priority (higher first), then plugin name, then command
//! name; `before`/`after` constraints between plugins move contributions past that order, and
//! constraints that cannot all hold are a cycle, reported as its path.

use std::collections::BTreeSet;

/// What ordering needs of one contribution.
pub(crate) trait Ordered {
    fn plugin(&self) -> &str;
    fn command(&self) -> &str;
    fn priority(&self) -> i32;
    /// Plugins this one runs before.
    fn before(&self) -> &[String];
    /// Plugins this one runs after.
    fn after(&self) -> &[String];
}

/// `items` in running order, or the plugins on a cycle of constraints (`a → b → a`).
///
/// A stable topological sort: among the contributions whose predecessors have all run, the
/// first by (priority descending, plugin, command) runs next, so without constraints the
/// order is exactly that key's. A constraint naming a plugin with no contribution here is
/// ignored (it may come later).
pub(crate) fn order<T: Ordered>(mut items: Vec<T>) -> Result<Vec<T>, Vec<String>> {
    items.sort_by(|a, b| {
        b.priority()
            .cmp(&a.priority())
            .then_with(|| a.plugin().cmp(b.plugin()))
            .then_with(|| a.command().cmp(b.command()))
    });
    let n = items.len();
    // edges[i] holds the items that must run after item i.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut preds = vec![0usize; n];
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate() {
            if i == j || a.plugin() == b.plugin() {
                continue;
            }
            let a_first = a.before().iter().any(|p| p == b.plugin())
                || b.after().iter().any(|p| p == a.plugin());
            if a_first && !edges[i].contains(&j) {
                edges[i].push(j);
                preds[j] += 1;
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| preds[i] == 0).collect();
    let mut sequence = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        sequence.push(i);
        for &j in &edges[i] {
            preds[j] -= 1;
            if preds[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if sequence.len() < n {
        return Err(cycle(&items, &edges, &preds));
    }
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    Ok(sequence
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect())
}

/// A cycle among the items left with predecessors: walk backwards along edges from one of
/// them until a plugin repeats.
fn cycle<T: Ordered>(items: &[T], edges: &[Vec<usize>], preds: &[usize]) -> Vec<String> {
    let left: Vec<usize> = (0..items.len()).filter(|&i| preds[i] > 0).collect();
    let Some(&start) = left.first() else {
        return Vec::new();
    };
    let mut path = vec![start];
    let mut at = start;
    // A predecessor still waiting: one exists for every item left.
    while let Some(prev) = left.iter().copied().find(|&p| edges[p].contains(&at)) {
        if let Some(pos) = path.iter().position(|&p| p == prev) {
            // path[k + 1] runs before path[k], and prev (= path[pos]) before the last: read
            // backwards from the last, the loop closes on itself.
            let mut names: Vec<String> = path[pos..]
                .iter()
                .rev()
                .map(|&i| items[i].plugin().to_owned())
                .collect();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            return names;
        }
        path.push(prev);
        at = prev;
    }
    path.iter().map(|&i| items[i].plugin().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Item {
        plugin: String,
        command: String,
        priority: i32,
        before: Vec<String>,
        after: Vec<String>,
    }

    impl Ordered for Item {
        fn plugin(&self) -> &str {
            &self.plugin
        }
        fn command(&self) -> &str {
            &self.command
        }
        fn priority(&self) -> i32 {
            self.priority
        }
        fn before(&self) -> &[String] {
            &self.before
        }
        fn after(&self) -> &[String] {
            &self.after
        }
    }

    fn item(plugin: &str, priority: i32) -> Item {
        Item {
            plugin: plugin.into(),
            command: "c".into(),
            priority,
            before: vec![],
            after: vec![],
        }
    }

    fn names(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.plugin.as_str()).collect()
    }

    #[test]
    fn higher_priority_first_then_plugin_name() {
        let out = order(vec![
            item("b", 0),
            item("a", 0),
            item("z", 5),
            item("m", -1),
        ])
        .unwrap();
        assert_eq!(names(&out), ["z", "a", "b", "m"]);
    }

    #[test]
    fn before_and_after_override_priority() {
        let mut low = item("low", -10);
        low.before = vec!["high".into()];
        let mut last = item("first", 100);
        last.after = vec!["mid".into()];
        let out = order(vec![item("high", 10), low, item("mid", 0), last]).unwrap();
        // Among those whose predecessors ran, the first by key runs next: `mid` (0) before
        // `low` (-10); `first` (100) as soon as `mid` ran; `high` once `low` ran.
        assert_eq!(names(&out), ["mid", "first", "low", "high"]);
    }

    #[test]
    fn a_constraint_on_an_absent_plugin_is_ignored() {
        let mut a = item("a", 0);
        a.after = vec!["nobody".into()];
        assert_eq!(names(&order(vec![item("b", 1), a]).unwrap()), ["b", "a"]);
    }

    #[test]
    fn a_cycle_is_reported_as_its_path() {
        let mut a = item("a", 0);
        a.before = vec!["b".into()];
        let mut b = item("b", 0);
        b.before = vec!["c".into()];
        let mut c = item("c", 0);
        c.before = vec!["a".into()];
        let path = order(vec![a, b, c, item("d", 0)]).unwrap_err();
        assert_eq!(path.len(), 4);
        assert_eq!(path.first(), path.last());
        let mut on: Vec<&str> = path[..3].iter().map(String::as_str).collect();
        on.sort_unstable();
        assert_eq!(on, ["a", "b", "c"]);
    }

    proptest! {
        /// Oracle: without constraints the order is the sort by (-priority, plugin); with
        /// random `before` constraints every constraint holds or a cycle is reported.
        #[test]
        fn order_respects_key_and_constraints(
            prios in proptest::collection::vec(-3i32..3, 1..8),
            cons in proptest::collection::vec((0usize..8, 0usize..8), 0..6),
        ) {
            let mut items: Vec<Item> = prios
                .iter()
                .enumerate()
                .map(|(i, &p)| item(&format!("p{i}"), p))
                .collect();
            let n = items.len();
            let mut oracle = items.clone();
            oracle.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.plugin.cmp(&b.plugin)));
            let plain = order(items.clone()).unwrap();
            prop_assert_eq!(names(&plain), names(&oracle));
            for (a, b) in cons {
                if a < n && b < n && a != b {
                    let target = items[b].plugin.clone();
                    items[a].before.push(target);
                }
            }
            match order(items.clone()) {
                Ok(out) => {
                    prop_assert_eq!(out.len(), n);
                    let pos = |p: &str| out.iter().position(|i| i.plugin == p).unwrap();
                    for i in &items {
                        for b in &i.before {
                            prop_assert!(pos(&i.plugin) < pos(b));
                        }
                    }
                }
                Err(path) => {
                    prop_assert!(path.len() >= 3);
                    prop_assert_eq!(path.first(), path.last());
                    for w in path.windows(2) {
                        let a = items.iter().find(|i| i.plugin == w[0]).unwrap();
                        prop_assert!(a.before.contains(&w[1]));
                    }
                }
            }
        }
    }
}
