//! ARM resource ids and URL paths of the Azure ML provider, matched case-insensitively as ARM does.

/// The provider namespace of Azure ML resources.
pub(crate) const PROVIDER: &str = "Microsoft.MachineLearningServices";

/// Where a compute lives: subscription, resource group, workspace (case kept as given).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspacePath {
    /// Subscription id.
    pub subscription: String,
    /// Resource group name.
    pub resource_group: String,
    /// Workspace name.
    pub workspace: String,
}

impl WorkspacePath {
    /// The workspace's ARM id.
    pub fn arm_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{PROVIDER}/workspaces/{}",
            self.subscription, self.resource_group, self.workspace
        )
    }

    /// The case-insensitive key ARM would use to find this workspace.
    pub(crate) fn key(&self) -> String {
        self.arm_id().to_ascii_lowercase()
    }

    /// The ARM id of a compute named `name` in this workspace.
    pub fn compute_id(&self, name: &str) -> String {
        format!("{}/computes/{name}", self.arm_id())
    }
}

/// Parses a full compute ARM id into its workspace and compute name.
pub(crate) fn parse_compute_id(id: &str) -> Option<(WorkspacePath, String)> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segs.len() != 10 {
        return None;
    }
    let fixed = [
        (0, "subscriptions"),
        (2, "resourcegroups"),
        (4, "providers"),
        (5, "microsoft.machinelearningservices"),
        (6, "workspaces"),
        (8, "computes"),
    ];
    if fixed.iter().any(|(i, w)| !segs[*i].eq_ignore_ascii_case(w)) {
        return None;
    }
    if [1, 3, 7, 9].iter().any(|i| segs[*i].is_empty()) {
        return None;
    }
    Some((
        WorkspacePath {
            subscription: segs[1].to_string(),
            resource_group: segs[3].to_string(),
            workspace: segs[7].to_string(),
        },
        segs[9].to_string(),
    ))
}

/// A POST action on a compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ActionKind {
    /// `start`
    Start,
    /// `stop`
    Stop,
    /// `restart`
    Restart,
    /// `updateIdleShutdownSetting`
    UpdateIdleShutdown,
}

impl ActionKind {
    /// The name ARM uses in `lastOperation.operationName`.
    pub(crate) fn operation_name(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::Stop => "Stop",
            Self::Restart => "Restart",
            Self::UpdateIdleShutdown => "UpdateIdleShutdownSetting",
        }
    }

    /// The role-based access control action that authorises this call.
    pub(crate) fn role_action(self) -> &'static str {
        match self {
            Self::Start => "Microsoft.MachineLearningServices/workspaces/computes/start/action",
            Self::Stop => "Microsoft.MachineLearningServices/workspaces/computes/stop/action",
            Self::Restart => "Microsoft.MachineLearningServices/workspaces/computes/restart/action",
            Self::UpdateIdleShutdown => {
                "Microsoft.MachineLearningServices/workspaces/computes/updateIdleShutdownSetting/action"
            }
        }
    }
}

/// One ARM route the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// GET workspaces of a subscription, or of one resource group.
    ListWorkspaces {
        subscription: String,
        resource_group: Option<String>,
    },
    /// GET one workspace.
    GetWorkspace(WorkspacePath),
    /// GET computes of a workspace.
    ListComputes(WorkspacePath),
    /// GET one compute.
    GetCompute(WorkspacePath, String),
    /// POST an action on one compute.
    Action(WorkspacePath, String, ActionKind),
    /// GET an `Azure-AsyncOperation` status resource.
    OperationStatus(String),
    /// GET a `Location` operation result.
    OperationResult(String),
}

impl Route {
    /// The role action a caller needs for this route.
    pub(crate) fn role_action(&self) -> &'static str {
        match self {
            Route::ListWorkspaces { .. } | Route::GetWorkspace(_) => {
                "Microsoft.MachineLearningServices/workspaces/read"
            }
            Route::ListComputes(_)
            | Route::GetCompute(..)
            | Route::OperationStatus(_)
            | Route::OperationResult(_) => {
                "Microsoft.MachineLearningServices/workspaces/computes/read"
            }
            Route::Action(_, _, a) => a.role_action(),
        }
    }

    /// Whether ARM counts this call against the write budget.
    pub(crate) fn is_write(&self) -> bool {
        matches!(self, Route::Action(..))
    }

    /// A short word for the request log.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Route::ListWorkspaces { .. } => "list-workspaces",
            Route::GetWorkspace(_) => "get-workspace",
            Route::ListComputes(_) => "list-computes",
            Route::GetCompute(..) => "get-compute",
            Route::Action(..) => "action",
            Route::OperationStatus(_) | Route::OperationResult(_) => "poll",
        }
    }
}

/// A compute name as ARM reads it from a path segment: percent-decoded (a client encodes
/// what a URL path cannot carry as it is).
fn name(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Matches a request to an ARM route, case-insensitively on the fixed words as ARM does.
pub(crate) fn match_route(method: &str, path: &str) -> Option<Route> {
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is = |i: usize, w: &str| s.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
    let get = method.eq_ignore_ascii_case("GET");
    let post = method.eq_ignore_ascii_case("POST");
    if !is(0, "subscriptions") || s.len() < 3 || s[1].is_empty() {
        return None;
    }
    let sub = s[1].to_string();
    // /subscriptions/{s}/providers/Microsoft.MachineLearningServices/...
    if is(2, "providers") && is(3, PROVIDER) {
        if s.len() == 5 && is(4, "workspaces") && get {
            return Some(Route::ListWorkspaces {
                subscription: sub,
                resource_group: None,
            });
        }
        if s.len() == 8 && is(4, "locations") && get {
            if is(6, "computeOperationsStatus") {
                return Some(Route::OperationStatus(s[7].to_string()));
            }
            if is(6, "computeOperationsResults") {
                return Some(Route::OperationResult(s[7].to_string()));
            }
        }
        return None;
    }
    if !(is(2, "resourceGroups") && is(4, "providers") && is(5, PROVIDER) && is(6, "workspaces")) {
        return None;
    }
    let rg = s[3].to_string();
    if s.len() == 7 {
        return get.then_some(Route::ListWorkspaces {
            subscription: sub,
            resource_group: Some(rg),
        });
    }
    let ws = WorkspacePath {
        subscription: sub,
        resource_group: rg,
        workspace: s[7].to_string(),
    };
    match s.len() {
        8 if get => Some(Route::GetWorkspace(ws)),
        9 if get && is(8, "computes") => Some(Route::ListComputes(ws)),
        10 if get && is(8, "computes") => Some(Route::GetCompute(ws, name(s[9]))),
        11 if post && is(8, "computes") => {
            let action = match s[10].to_ascii_lowercase().as_str() {
                "start" => ActionKind::Start,
                "stop" => ActionKind::Stop,
                "restart" => ActionKind::Restart,
                "updateidleshutdownsetting" => ActionKind::UpdateIdleShutdown,
                _ => return None,
            };
            Some(Route::Action(ws, name(s[9]), action))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_ids_parse_case_insensitively() {
        let id = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/w/computes/c";
        let (ws, name) = parse_compute_id(id).unwrap();
        assert_eq!(
            (
                ws.subscription.as_str(),
                ws.workspace.as_str(),
                name.as_str()
            ),
            ("s1", "w", "c")
        );
        assert!(parse_compute_id("/subscriptions/s1/resourceGroups/rg").is_none());
        assert!(parse_compute_id("compute123").is_none());
    }

    #[test]
    fn routes_match_the_arm_paths() {
        let base = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces";
        assert!(matches!(
            match_route("GET", base),
            Some(Route::ListWorkspaces {
                resource_group: Some(_),
                ..
            })
        ));
        assert!(matches!(
            match_route(
                "GET",
                "/subscriptions/s/providers/Microsoft.MachineLearningServices/workspaces"
            ),
            Some(Route::ListWorkspaces {
                resource_group: None,
                ..
            })
        ));
        assert!(matches!(
            match_route("GET", &format!("{base}/w/computes")),
            Some(Route::ListComputes(_))
        ));
        assert!(matches!(
            match_route("GET", &format!("{base}/w/computes/c")),
            Some(Route::GetCompute(..))
        ));
        assert_eq!(
            match_route(
                "POST",
                &format!("{base}/w/computes/c/updateIdleShutdownSetting")
            ),
            Some(Route::Action(
                WorkspacePath {
                    subscription: "s".into(),
                    resource_group: "rg".into(),
                    workspace: "w".into()
                },
                "c".into(),
                ActionKind::UpdateIdleShutdown
            ))
        );
        assert!(match_route("GET", &format!("{base}/w/computes/c/stop")).is_none());
        assert_eq!(
            match_route("GET", &format!("{base}/w/computes/%3Cscript%3E%20x")),
            Some(Route::GetCompute(
                WorkspacePath {
                    subscription: "s".into(),
                    resource_group: "rg".into(),
                    workspace: "w".into()
                },
                "<script> x".into()
            )),
            "names are percent-decoded, as ARM reads them"
        );
        assert!(matches!(
            match_route("GET", "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/eastus/computeOperationsStatus/op1"),
            Some(Route::OperationStatus(op)) if op == "op1"
        ));
    }
}
