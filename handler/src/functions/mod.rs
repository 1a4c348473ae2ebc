//! The Azure Functions custom handler (`curfew serve`): protocol, routes, bindings.
//! Placeholder until the Functions issue lands.

/// Starts the custom handler. Not yet implemented: the Functions app is its own issue.
pub(crate) fn serve(_port: Option<u16>) -> anyhow::Result<()> {
    anyhow::bail!("`curfew serve` is not available yet (see the Functions app issue)")
}
