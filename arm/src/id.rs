//! ARM ids of workspaces and computes, parsed case-insensitively as ARM treats them.

use std::fmt;

/// The provider namespace of Azure ML.
pub(crate) const PROVIDER: &str = "Microsoft.MachineLearningServices";

/// An Azure ML workspace: the unit Curfew lists computes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceRef {
    /// Subscription id.
    pub subscription: String,
    /// Resource group name.
    pub resource_group: String,
    /// Workspace name.
    pub workspace: String,
}

impl WorkspaceRef {
    /// The workspace's ARM path (no host).
    pub fn path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{PROVIDER}/workspaces/{}",
            self.subscription, self.resource_group, self.workspace
        )
    }

    /// Parses a workspace ARM id.
    pub fn parse(id: &str) -> Option<WorkspaceRef> {
        let s: Vec<&str> = id.trim_matches('/').split('/').collect();
        (s.len() == 8 && fixed(&s)).then(|| WorkspaceRef {
            subscription: s[1].into(),
            resource_group: s[3].into(),
            workspace: s[7].into(),
        })
    }
}

impl fmt::Display for WorkspaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn fixed(s: &[&str]) -> bool {
    let words = [
        (0, "subscriptions"),
        (2, "resourcegroups"),
        (4, "providers"),
        (5, "microsoft.machinelearningservices"),
        (6, "workspaces"),
    ];
    words.iter().all(|(i, w)| s[*i].eq_ignore_ascii_case(w))
        && [1, 3, 7].iter().all(|i| !s[*i].is_empty())
}

/// A compute's ARM id, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComputeId {
    /// The workspace it belongs to.
    pub workspace: WorkspaceRef,
    /// The compute's name.
    pub name: String,
}

impl ComputeId {
    /// Parses a compute ARM id (`.../workspaces/{ws}/computes/{name}`).
    pub fn parse(id: &str) -> Option<ComputeId> {
        let s: Vec<&str> = id.trim_matches('/').split('/').collect();
        (s.len() == 10 && fixed(&s) && s[8].eq_ignore_ascii_case("computes") && !s[9].is_empty())
            .then(|| ComputeId {
                workspace: WorkspaceRef {
                    subscription: s[1].into(),
                    resource_group: s[3].into(),
                    workspace: s[7].into(),
                },
                name: s[9].into(),
            })
    }

    /// The compute's ARM path (no host).
    pub fn path(&self) -> String {
        format!("{}/computes/{}", self.workspace.path(), self.name)
    }
}

impl fmt::Display for ComputeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_ignore_case() {
        let id = "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/testrg123/providers/Microsoft.MachineLearningServices/workspaces/workspaces123/computes/compute123";
        let c = ComputeId::parse(id).unwrap();
        assert_eq!(c.path(), id);
        assert_eq!(c.name, "compute123");
        assert!(ComputeId::parse(&id.to_lowercase()).is_some());
        assert!(ComputeId::parse("compute123").is_none());
        let ws = WorkspaceRef::parse(&c.workspace.path()).unwrap();
        assert_eq!(ws, c.workspace);
    }
}
