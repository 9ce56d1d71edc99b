fn main() -> std::process::ExitCode {
    tba::cli::main()
}
