//! The stage graph: which stage produces what another needs, checked as DVC checks it — no
//! two stages writing one output (or one inside the other), no stage depending on its own
//! output, no cycle — plus the order stages run in (`plan`).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::dvcyaml::{PipelineFile, Stage};
use crate::error::{Error, Result};

/// `a` is `b` or inside it (as paths, `/`-separated).
fn is_within(a: &str, b: &str) -> bool {
    a == b || (a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'/')
}

/// Two paths overlap: equal, or one inside the other.
pub fn overlaps(a: &str, b: &str) -> bool {
    is_within(a, b) || is_within(b, a)
}

/// A validated pipeline: stages and, per stage, the stages it depends on.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The stages, in `dvc.yaml` order.
    pub stages: Vec<Stage>,
    /// `upstream[i]`: indices of the stages whose outputs stage `i` depends on.
    pub upstream: Vec<BTreeSet<usize>>,
    /// `foreach`/`matrix` group name -> generated stage names.
    pub groups: Vec<(String, Vec<String>)>,
}

/// One edge of the graph, for `dag --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// The upstream stage (produces the path).
    pub from: String,
    /// The downstream stage (depends on it).
    pub to: String,
    /// The paths that link them.
    pub paths: Vec<String>,
}

impl Pipeline {
    /// Check the stages and build the graph.
    pub fn new(file: PipelineFile) -> Result<Self> {
        let stages = file.stages;
        // Outputs: two stages may not write one path, nor one inside another's.
        let mut outs: Vec<(&str, usize)> = Vec::new();
        for (i, s) in stages.iter().enumerate() {
            for o in &s.outs {
                for (p, j) in &outs {
                    if overlaps(p, &o.path.rel) {
                        let (a, b) = (&stages[*j].name, &s.name);
                        return Err(Error::Graph(if *j == i {
                            format!(
                                "stage '{a}' lists output '{}' twice (or one inside the other: '{p}')",
                                o.path.rel
                            )
                        } else if *p == o.path.rel {
                            format!(
                                "output '{p}' is written by two stages, '{a}' and '{b}'; an output must belong to one stage"
                            )
                        } else {
                            format!(
                                "outputs overlap: '{p}' of stage '{a}' and '{}' of stage '{b}' (one is inside the other)",
                                o.path.rel
                            )
                        }));
                    }
                }
                outs.push((&o.path.rel, i));
            }
        }
        // A stage may not depend on its own output.
        for s in &stages {
            for d in s
                .deps
                .iter()
                .map(|d| &d.rel)
                .chain(s.params.iter().map(|p| &p.path.rel))
            {
                if let Some(o) = s.outs.iter().find(|o| overlaps(d, &o.path.rel)) {
                    return Err(Error::Graph(format!(
                        "stage '{}' depends on its own output: '{d}' is both a dependency and an output ('{}')",
                        s.name, o.path.rel
                    )));
                }
            }
        }
        let mut upstream = vec![BTreeSet::new(); stages.len()];
        for (i, s) in stages.iter().enumerate() {
            for d in s
                .deps
                .iter()
                .map(|d| &d.rel)
                .chain(s.params.iter().map(|p| &p.path.rel))
            {
                for (p, j) in &outs {
                    if overlaps(d, p) {
                        upstream[i].insert(*j);
                    }
                }
            }
        }
        let p = Self {
            stages,
            upstream,
            groups: file.groups,
        };
        p.check_acyclic()?;
        Ok(p)
    }

    fn check_acyclic(&self) -> Result<()> {
        // 0 unvisited, 1 on the stack, 2 done.
        let mut state = vec![0u8; self.stages.len()];
        let mut stack: Vec<usize> = Vec::new();
        fn visit(
            p: &Pipeline,
            i: usize,
            state: &mut [u8],
            stack: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[i] = 1;
            stack.push(i);
            for &j in &p.upstream[i] {
                if state[j] == 1 {
                    let from = stack.iter().position(|&x| x == j).unwrap_or(0);
                    return Some(stack[from..].to_vec());
                }
                if state[j] == 0
                    && let Some(c) = visit(p, j, state, stack)
                {
                    return Some(c);
                }
            }
            stack.pop();
            state[i] = 2;
            None
        }
        for i in 0..self.stages.len() {
            if state[i] == 0
                && let Some(mut cycle) = visit(self, i, &mut state, &mut stack)
            {
                cycle.reverse();
                let mut names: Vec<&str> = cycle
                    .iter()
                    .map(|&k| self.stages[k].name.as_str())
                    .collect();
                if let Some(first) = names.first().copied() {
                    names.push(first);
                }
                return Err(Error::Graph(format!(
                    "the pipeline has a cycle: {} (each depends on an output of the one before)",
                    names.join(" -> ")
                )));
            }
        }
        Ok(())
    }

    /// The index of stage `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// Resolve targets (stage names, a `foreach`/`matrix` group name, `dvc.yaml:name`) to
    /// stage indices; no targets means every stage.
    pub fn targets(&self, targets: &[String]) -> Result<Vec<usize>> {
        if targets.is_empty() {
            return Ok((0..self.stages.len()).collect());
        }
        let mut out = Vec::new();
        for t in targets {
            let name = t
                .strip_prefix("dvc.yaml:")
                .or_else(|| t.strip_prefix("./dvc.yaml:"))
                .unwrap_or(t);
            if name == "dvc.yaml" {
                out.extend(0..self.stages.len());
                continue;
            }
            if let Some(i) = self.index(name) {
                out.push(i);
            } else if let Some((_, members)) = self.groups.iter().find(|(g, _)| g == name) {
                out.extend(members.iter().filter_map(|m| self.index(m)));
            } else {
                return Err(Error::NoSuchStage(name.to_string()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|i| seen.insert(*i));
        Ok(out)
    }

    /// The stages to consider for `targets`, upstream first: each target's ancestors (not
    /// through frozen stages, as DVC disconnects them) in a depth-first post-order, or only
    /// the targets with `single_item`.
    pub fn plan(&self, targets: &[usize], single_item: bool) -> Vec<usize> {
        if single_item {
            return targets.to_vec();
        }
        let mut done = vec![false; self.stages.len()];
        let mut order = Vec::new();
        fn visit(p: &Pipeline, i: usize, done: &mut [bool], order: &mut Vec<usize>) {
            if done[i] {
                return;
            }
            done[i] = true;
            if !p.stages[i].frozen {
                for &j in &p.upstream[i] {
                    visit(p, j, done, order);
                }
            }
            order.push(i);
        }
        for &t in targets {
            visit(self, t, &mut done, &mut order);
        }
        order
    }

    /// Every edge, upstream to downstream, with the linking paths.
    pub fn edges(&self) -> Vec<Edge> {
        let mut out = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            for &j in &self.upstream[i] {
                let up = &self.stages[j];
                let mut paths: Vec<String> = s
                    .deps
                    .iter()
                    .map(|d| &d.rel)
                    .chain(s.params.iter().map(|p| &p.path.rel))
                    .filter(|d| up.outs.iter().any(|o| overlaps(d, &o.path.rel)))
                    .cloned()
                    .collect();
                paths.dedup();
                out.push(Edge {
                    from: up.name.clone(),
                    to: s.name.clone(),
                    paths,
                });
            }
        }
        out
    }

    /// Which stage (if any) writes `rel` or a folder containing it.
    pub fn producer_of(&self, rel: &str) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.outs.iter().any(|o| overlaps(rel, &o.path.rel)))
    }

    /// Name -> index.
    pub fn by_name(&self) -> HashMap<&str, usize> {
        self.stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(yaml: &str) -> Result<Pipeline> {
        let dir = tempfile::tempdir().unwrap();
        Pipeline::new(PipelineFile::parse(yaml, dir.path())?)
    }

    #[test]
    fn plan_is_upstream_first() {
        let p = pipeline(
            "stages:\n  c:\n    cmd: x\n    deps: [b.txt]\n    outs: [c.txt]\n  a:\n    cmd: x\n    outs: [data]\n  b:\n    cmd: x\n    deps: [data/part]\n    outs: [b.txt]\n",
        )
        .unwrap();
        let c = p.index("c").unwrap();
        let names: Vec<&str> = p
            .plan(&[c], false)
            .iter()
            .map(|&i| p.stages[i].name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(p.plan(&[c], true), vec![c]);
        assert_eq!(p.edges().len(), 2);
    }

    #[test]
    fn invalid_graphs_are_refused_naming_stages_and_paths() {
        let e = pipeline(
            "stages:\n  a:\n    cmd: x\n    deps: [b.txt]\n    outs: [a.txt]\n  b:\n    cmd: x\n    deps: [a.txt]\n    outs: [b.txt]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cycle") && e.contains("b -> a -> b"), "{e}");
        let e = pipeline(
            "stages:\n  a:\n    cmd: x\n    outs: [o.txt]\n  b:\n    cmd: x\n    outs: [o.txt]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("'o.txt'") && e.contains("'a'") && e.contains("'b'"),
            "{e}"
        );
        let e = pipeline("stages:\n  a:\n    cmd: x\n    deps: [o.txt]\n    outs: [o.txt]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("its own output") && e.contains("o.txt"), "{e}");
        let e = pipeline(
            "stages:\n  a:\n    cmd: x\n    outs: [d]\n  b:\n    cmd: x\n    outs: [d/x]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("overlap"), "{e}");
    }
}
