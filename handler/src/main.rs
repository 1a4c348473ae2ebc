//! `curfew`: the command line and the Azure Functions custom handler, on one binary.

fn main() -> std::process::ExitCode {
    curfew::cli::main()
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
