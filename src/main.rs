/// mimalloc rather than the system allocator: under the service's and the imports' many small
/// allocations from several threads, glibc's malloc spent a third of the CPU in its own locks and
/// free lists.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tba::cli::main()
}
