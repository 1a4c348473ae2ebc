//! `curfew` binary (placeholder while the CLI is written).
mod functions;
fn main() -> anyhow::Result<()> {
    functions::serve(None)
}
